"""Section 4, scale: per-operation cost of book+cancel on random slots, by store size.

One store per size (1,000, 100,000, 1,000,000 slots), bulk-loaded directly in the
store's own schema with exactly the rows ``add_slot`` writes (the slot, version 1, and
its creation history row), checked against a slot made by ``add_slot``. The sizes are
measured interleaved in one run, so drift on a noisy machine hits them alike, and each
is reported as a ratio to the smallest.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from slotfsm import SlotManager, Store

from ._common import Context, Skip, open_fresh_store, section
from ._timing import Batch, log, measure, summary

TARGET = 1.2
KINDS = ("sqlite", "postgres")
STORE_NAMES = {"sqlite": "SQLiteStore", "postgres": "PostgresStore"}
REFERENCE = "made-by-add_slot"


def slot_ids(start: int, stop: int) -> list[str]:
    return [f"S{i:07d}" for i in range(start, stop)]


# -- bulk loaders: the rows add_slot writes, straight into the store's tables ------------


def _sqlite_load(url: str, ids: list[str], at: float) -> None:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO slotfsm_slots (id, status, version) "
                         "VALUES (?, 'available', 1)", ((i,) for i in ids))
        conn.executemany(
            "INSERT INTO slotfsm_history "
            "(slot_id, version, event, source, target, actor, at, ref, override) "
            "VALUES (?, 1, 'create', NULL, 'available', NULL, ?, NULL, 0)",
            ((i, at) for i in ids))
        conn.execute("COMMIT")
    finally:
        conn.close()


def _sqlite_rows(url: str, slot_id: str) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return {
            "slots": conn.execute("SELECT * FROM slotfsm_slots WHERE id = ?",
                                  (slot_id,)).fetchall(),
            "history": conn.execute("SELECT * FROM slotfsm_history WHERE slot_id = ?",
                                    (slot_id,)).fetchall(),
            "records": conn.execute("SELECT * FROM slotfsm_records WHERE slot_id = ?",
                                    (slot_id,)).fetchall(),
        }
    finally:
        conn.close()


Loader = Callable[[str, list[str], float], None]
RowReader = Callable[[str, str], dict[str, list[tuple[Any, ...]]]]


def loaders(kind: str) -> tuple[Loader, RowReader]:
    if kind == "sqlite":
        return _sqlite_load, _sqlite_rows
    from . import _pg_bulk

    return _pg_bulk.load, _pg_bulk.rows


def _normalise(rows: dict[str, list[tuple[Any, ...]]], slot_id: str, at: float
               ) -> dict[str, list[tuple[Any, ...]]]:
    """The rows with the slot id and the creation time blanked out."""
    out = {}
    for table, found in rows.items():
        out[table] = [tuple("<id>" if v == slot_id else "<at>" if v == at else v for v in row)
                      for row in found]
    return out


def check_rows(kind: str, store: Store, url: str, bulk_id: str, at: float) -> None:
    """A bulk-loaded slot must be indistinguishable from one ``add_slot`` made."""
    _, read = loaders(kind)
    made = SlotManager(store).add_slot(REFERENCE)
    made_at = store.history(REFERENCE)[0].at
    want = _normalise(read(url, REFERENCE), REFERENCE, made_at)
    got = _normalise(read(url, bulk_id), bulk_id, at)
    if want != got or not any(want.values()):
        raise AssertionError(f"bulk-loaded rows differ from add_slot's:\n{got}\n{want}")
    slot = store.slot(bulk_id)
    if slot is None or (slot.status, slot.version) != (made.status, made.version):
        raise AssertionError(f"bulk slot reads back as {slot}, add_slot made {made}")
    [entry] = store.history(bulk_id)
    [ref] = store.history(REFERENCE)
    if (entry.version, entry.event, entry.source, entry.target, entry.user, entry.ref,
            entry.override) != (ref.version, ref.event, ref.source, ref.target, ref.user,
                                ref.ref, ref.override):
        raise AssertionError(f"bulk history reads back as {entry}, add_slot wrote {ref}")


def _random_pairs(store: Store, size: int, seed: int, count: int) -> Batch:
    mgr = SlotManager(store)
    rng = random.Random(seed)
    picks = [f"S{rng.randrange(size):07d}" for _ in range(count)]
    state = {"i": 0}
    book, cancel = mgr.book, mgr.cancel_reservation

    def run(n: int) -> None:
        i = state["i"]
        for _ in range(n):
            r = book(picks[i % count], user="u1")
            cancel(r.id, user="u1")
            i += 1
        state["i"] = i

    return run


def _one(ctx: Context, kind: str) -> list[dict[str, Any]]:
    c = ctx.counts
    contenders: dict[str, Batch] = {}
    stores: list[Store] = []
    loads: dict[int, float] = {}
    try:
        for size in c.scale_sizes:
            store, url = open_fresh_store(ctx, kind, f"scale_{kind}")
            stores.append(store)
            store.slot(REFERENCE)  # a store may create its tables on first use
            load, _ = loaders(kind)
            at = time.time()
            t0 = time.perf_counter()
            step = 100_000
            for start in range(0, size, step):
                load(url, slot_ids(start, min(size, start + step)), at)
            loads[size] = time.perf_counter() - t0
            log(f"scale: {STORE_NAMES[kind]} loaded {size:,} slots in {loads[size]:.1f}s")
            check_rows(kind, store, url, slot_ids(size - 1, size)[0], at)
            count = c.scale_pairs * (c.scale_repeats + 2)
            contenders[f"{size:,}"] = _random_pairs(store, size, size, count)
        log(f"scale: {STORE_NAMES[kind]}: {c.scale_repeats} repeats x {c.scale_pairs} "
            f"book+cancel on random slots, sizes interleaved")
        samples = measure(contenders, n=c.scale_pairs, repeats=c.scale_repeats,
                          warmup=max(5, c.scale_pairs // 5))
    finally:
        for store in stores:
            store.close()
    smallest = summary([v / 2 for v in samples[f"{c.scale_sizes[0]:,}"]])["median_ns"]
    rows = []
    for size in c.scale_sizes:
        s = summary([v / 2 for v in samples[f"{size:,}"]])
        ratio = s["median_ns"] / smallest
        row = {"store": STORE_NAMES[kind], "slots": size, **s, "ratio": ratio,
               "load_s": loads[size]}
        if size == c.scale_sizes[-1]:
            row.update(target=TARGET, met=ratio <= TARGET)
        rows.append(row)
    return rows


def run(ctx: Context) -> dict[str, Any]:
    result = section("Scale: per-operation cost by number of slots (book+cancel, random slots)")
    for kind in KINDS:
        try:
            result["rows"].extend(_one(ctx, kind))
        except Skip as exc:
            log(f"scale: {exc}")
            result["notes"].append(str(exc))
            result["status"] = "partial"
            result["rows"].append({"store": STORE_NAMES[kind], "skipped": str(exc),
                                   "target": TARGET})
    return result
