"""Section 5, memory: bytes per slot that a SlotManager retains (it should retain none).

A SlotManager over an SQLiteStore (whose data lives in the SQLite file, outside the
Python heap) books and cancels once on each of N distinct, bulk-loaded slots, under
``tracemalloc``. Memory still allocated afterwards (after a full collection) is split by
the traceback of its allocation: anything allocated under ``slotfsm/stores/`` or
``sqlite3`` is the store's and excluded; the rest is the manager's, the engine's and the
libraries they call (transitions, attrs). Reported: retained bytes / N, and the slope
between N/2 and N slots, which is what tells a bounded cache (slope ~0) from a leak.
"""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path
from typing import Any

from slotfsm import SlotManager, SQLiteStore

from ._common import Context, section
from ._timing import log
from .scale import REFERENCE, _sqlite_load, slot_ids

#: "Holds nothing per slot": under a byte per additional slot (allocator noise aside).
TARGET = 1.0
FRAMES = 3  # enough to see a store frame above its allocations; tracing cost grows with it
STORE_MARKERS = (f"slotfsm{Path('/stores/')}", "sqlite3")


def _is_store(trace: tracemalloc.Traceback) -> bool:
    return any(any(m in frame.filename for m in STORE_MARKERS) for frame in trace)


def _split(after: tracemalloc.Snapshot, before: tracemalloc.Snapshot
           ) -> tuple[int, int, list[tuple[str, int]]]:
    """(manager bytes, store bytes, top manager allocation sites) retained since ``before``."""
    mine = store = 0
    sites: dict[str, int] = {}
    own = [tracemalloc.Filter(False, tracemalloc.__file__)]  # the snapshots themselves
    after, before = after.filter_traces(own), before.filter_traces(own)
    for stat in after.compare_to(before, "traceback"):
        if _is_store(stat.traceback):
            store += stat.size_diff
            continue
        mine += stat.size_diff
        frame = stat.traceback[-1]  # the allocating line (oldest frame first)
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        sites[where] = sites.get(where, 0) + stat.size_diff
    top = sorted(sites.items(), key=lambda kv: -kv[1])[:5]
    return mine, store, top


def run(ctx: Context) -> dict[str, Any]:
    result = section("Memory: bytes per slot retained by a SlotManager (tracemalloc)")
    n = ctx.counts.memory_slots
    path = ctx.tmp / f"{ctx.unique('memory')}.db"
    store = SQLiteStore(path)
    store.slot(REFERENCE)
    url = f"sqlite:///{path}"
    ids = slot_ids(0, n)
    for start in range(0, n, 100_000):
        _sqlite_load(url, ids[start:start + 100_000], 0.0)
    mgr = SlotManager(store)
    book, cancel = mgr.book, mgr.cancel_reservation
    mgr.add_slot(REFERENCE)
    for _ in range(20):  # warm the code paths on one slot outside the measured set
        cancel(book(REFERENCE, user="u1").id, user="u1")
    log(f"memory: book+cancel on {n:,} distinct slots under tracemalloc")
    gc.collect()
    tracemalloc.start(FRAMES)
    try:
        before = tracemalloc.take_snapshot()
        half = n // 2
        for sid in ids[:half]:
            cancel(book(sid, user="u1").id, user="u1")
        gc.collect()
        middle = tracemalloc.take_snapshot()
        for sid in ids[half:]:
            cancel(book(sid, user="u1").id, user="u1")
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
        store.close()
    mine, store_bytes, top = _split(after, before)
    mine_half, _, _ = _split(middle, before)
    slope = (mine - mine_half) / max(1, n - half)
    log(f"memory: manager retains {mine:,} B over {n:,} slots; store {store_bytes:,} B")
    result["rows"].append({
        "slots": n, "manager_bytes": mine, "bytes_per_slot": mine / n,
        "bytes_per_slot_second_half": slope, "store_bytes_excluded": store_bytes,
        "top_sites": top, "target": TARGET, "met": slope <= TARGET,
    })
    return result
