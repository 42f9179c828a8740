"""Section 3, contention: N processes booking and cancelling on one slot or on many.

Each worker process opens its own store from a URL, waits at a barrier, then loops for
a fixed time: pick a slot, ``book`` it (a refusal because another process holds it is a
*conflict*), ``cancel`` what it booked. Afterwards the parent checks that nothing was
lost: every success wrote exactly one history row, each slot's history is an unbroken
chain whose last row matches the slot, every slot is available again, no record is
left active and every reservation ended cancelled.
"""

from __future__ import annotations

import itertools
import multiprocessing
import random
import time
from typing import Any

from slotfsm import SlotConflict, SlotFSMError, SlotManager, Store
from slotfsm.stores import open_store

from ._common import Context, Skip, open_fresh_store, section
from ._timing import log

KINDS = ("sqlite", "postgres", "redis")
STORE_NAMES = {"sqlite": "SQLiteStore", "postgres": "PostgresStore", "redis": "RedisStore"}


def _worker(url: str, slots: list[str], seconds: float, index: int, barrier: Any,
            queue: Any) -> None:
    books = cancels = conflicts = 0
    errors: list[str] = []
    elapsed = 0.0
    try:
        store = open_store(url)
        mgr = SlotManager(store)
        rng = random.Random(index)
        user = f"w{index}"
        choose = (lambda: slots[0]) if len(slots) == 1 else (lambda: rng.choice(slots))
        mgr.get_slot(slots[0])  # connect before the clock starts
        barrier.wait(60)
        t0 = time.perf_counter()
        deadline = t0 + seconds
        while time.perf_counter() < deadline:
            try:
                r = mgr.book(choose(), user=user)
            except SlotConflict:
                conflicts += 1
                continue
            except SlotFSMError as exc:
                errors.append(f"book: {type(exc).__name__}: {exc}")
                continue
            books += 1
            try:
                mgr.cancel_reservation(r.id, user=user)
                cancels += 1
            except SlotFSMError as exc:
                errors.append(f"cancel: {type(exc).__name__}: {exc}")
        elapsed = time.perf_counter() - t0
        store.close()
    except BaseException as exc:  # report, never hang the parent
        errors.append(f"worker: {type(exc).__name__}: {exc}")
    queue.put({"books": books, "cancels": cancels, "conflicts": conflicts,
               "errors": len(errors), "first_errors": errors[:3], "elapsed": elapsed})


def verify(store: Store, slots: list[str]) -> dict[str, Any]:
    """Count history rows and records, and check each slot's invariants."""
    rows = records = 0
    problems: list[str] = []
    for sid in slots:
        slot = store.slot(sid)
        if slot is None:
            problems.append(f"{sid}: slot missing")
            continue
        history = store.history(sid)
        rows += len(history) - 1  # the creation row is not an operation
        if [e.version for e in history] != list(range(1, len(history) + 1)):
            problems.append(f"{sid}: history versions are not 1..{len(history)}")
        if slot.version != len(history):
            problems.append(f"{sid}: version {slot.version} but {len(history)} history rows")
        for prev, entry in itertools.pairwise(history):
            if entry.source != prev.target:
                problems.append(f"{sid}: v{entry.version} leaves {entry.source}, "
                                f"v{prev.version} entered {prev.target}")
                break
        if history and history[-1].target != slot.status:
            problems.append(f"{sid}: status {slot.status} but history ends in "
                            f"{history[-1].target}")
        if slot.status != "available":
            problems.append(f"{sid}: left {slot.status}")
        held = store.records(sid)
        records += len(held)
        if any(r.status != "cancelled" for r in held):
            problems.append(f"{sid}: a record is not cancelled")
    return {"history_rows": rows, "records": records, "problems": problems}


def _one(ctx: Context, kind: str, n_slots: int, processes: int) -> dict[str, Any]:
    store, url = open_fresh_store(ctx, kind, f"race_{kind}")
    slots = ["hot"] if n_slots == 1 else [f"S{i:05d}" for i in range(n_slots)]
    mgr = SlotManager(store)
    for sid in slots:
        mgr.add_slot(sid)
    store.close()  # no connection (or pool thread) crosses the fork
    mp = multiprocessing.get_context("fork")
    barrier = mp.Barrier(processes)
    queue = mp.Queue()
    seconds = ctx.counts.contention_seconds
    procs = [mp.Process(target=_worker, args=(url, slots, seconds, i, barrier, queue))
             for i in range(processes)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(30)
    store = open_store(url)
    try:
        checked = verify(store, slots)
    finally:
        store.close()
    books = sum(r["books"] for r in results)
    cancels = sum(r["cancels"] for r in results)
    elapsed = max(r["elapsed"] for r in results) or seconds
    successes = books + cancels
    problems = checked["problems"]
    if checked["records"] != books:
        problems.append(f"{books} books but {checked['records']} records")
    errors = [e for r in results for e in r["first_errors"]]
    return {
        "store": STORE_NAMES[kind], "slots": n_slots, "processes": processes,
        "ops_per_s": successes / elapsed, "successes": successes, "books": books,
        "cancels": cancels, "conflicts": sum(r["conflicts"] for r in results),
        "errors": sum(r["errors"] for r in results), "first_errors": errors[:3],
        "history_rows": checked["history_rows"], "lost": successes - checked["history_rows"],
        "invariants_ok": not problems and successes == checked["history_rows"],
        "problems": problems[:5],
    }


def run(ctx: Context) -> dict[str, Any]:
    result = section("Contention: processes on one slot and on many")
    c = ctx.counts
    for kind in KINDS:
        for n_slots in c.contention_slots:
            for processes in c.contention_processes:
                try:
                    log(f"contention: {STORE_NAMES[kind]}, {n_slots} slot(s), "
                        f"{processes} process(es), {c.contention_seconds}s")
                    row = _one(ctx, kind, n_slots, processes)
                except Skip as exc:
                    if str(exc) not in result["notes"]:
                        log(f"contention: {exc}")
                        result["notes"].append(str(exc))
                        result["status"] = "partial"
                        result["rows"].append({"store": STORE_NAMES[kind], "skipped": str(exc)})
                    break
                result["rows"].append(row)
                if not row["invariants_ok"] or row["errors"]:
                    log(f"contention: PROBLEM {row['problems']} {row['first_errors']}")
            else:
                continue
            break
    return result
