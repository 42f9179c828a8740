"""Timing: medians over interleaved repeats, the same gc policy for every contender."""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable, Mapping

#: A contender runs its operation ``n`` times; the loop lives inside it, so every
#: contender pays the same loop overhead.
Batch = Callable[[int], object]

_START = time.monotonic()


def log(message: str) -> None:
    """Progress on stderr, with the elapsed time of the run."""
    print(f"[{time.monotonic() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)


def measure(
    contenders: Mapping[str, Batch], *, n: int, repeats: int, warmup: int
) -> dict[str, list[float]]:
    """Nanoseconds per operation of each contender, one figure per repeat.

    Every contender is warmed up first, then the repeats are interleaved (A B C, B C A,
    C A B, …) so slow drift of a noisy machine hits all contenders alike. Before each
    timed batch the garbage collector runs a full collection and is then disabled until
    the batch ends: the same policy for everyone, and no collection lands inside one
    contender's timing by chance.
    """
    names = list(contenders)
    for name in names:
        contenders[name](warmup)
    samples: dict[str, list[float]] = {name: [] for name in names}
    was_enabled = gc.isenabled()
    try:
        for r in range(repeats):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                batch = contenders[name]
                gc.collect()
                gc.disable()
                t0 = time.perf_counter_ns()
                batch(n)
                elapsed = time.perf_counter_ns() - t0
                gc.enable()
                samples[name].append(elapsed / n)
    finally:
        if was_enabled:
            gc.enable()
        else:
            gc.disable()
    return samples


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def summary(values: list[float]) -> dict[str, float]:
    """Median, and the spread of the repeats (min, max), in nanoseconds."""
    return {"median_ns": median(values), "min_ns": min(values), "max_ns": max(values),
            "repeats": len(values)}
