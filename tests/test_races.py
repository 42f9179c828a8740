"""Races: many threads (every store) and processes (one SQLite file) booking one slot."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from conftest import StoreFactory
from helpers import check_invariants
from slotfsm import SlotConflict, SlotManager, SQLiteStore

THREADS = 16


def test_threads_booking_one_slot(store_factory: StoreFactory) -> None:
    """16 threads book one slot: exactly one wins, the rest get the seed's 409."""
    store = store_factory()
    mgr = SlotManager(store)
    mgr.add_slot("hot")
    barrier = threading.Barrier(THREADS)
    wins: list[str] = []
    conflicts: list[SlotConflict] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        barrier.wait()
        try:
            wins.append(mgr.book("hot", user=f"u{n}").id)
        except SlotConflict as err:
            conflicts.append(err)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(wins) == 1
    assert len(conflicts) == THREADS - 1
    assert all("is not available (current status: booked)" in c.message for c in conflicts)
    assert [r.id for r in store.active("hot")] == wins
    assert [h.event for h in store.history("hot")] == ["create", "book"]
    check_invariants(store)
    store.close()


def _process_worker(path: str, n: int, start: multiprocessing.synchronize.Event,
                    results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    mgr = SlotManager(SQLiteStore(path))
    start.wait()
    try:
        results.put(("win", mgr.book("hot", user=f"p{n}").id))
    except SlotConflict as err:
        results.put(("conflict", err.message))
    except BaseException as err:  # pragma: no cover - reported by the parent
        results.put(("error", repr(err)))


@pytest.mark.slow
def test_processes_booking_one_sqlite_slot(tmp_path: Path) -> None:
    """4 processes on one SQLite file: exactly one wins, nothing is lost."""
    path = str(tmp_path / "shared.db")
    SlotManager(SQLiteStore(path)).add_slot("hot")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    results = ctx.Queue()
    procs = [ctx.Process(target=_process_worker, args=(path, n, start, results))
             for n in range(4)]
    for p in procs:
        p.start()
    start.set()
    outcomes = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    kinds = sorted(k for k, _ in outcomes)
    assert kinds == ["conflict", "conflict", "conflict", "win"], outcomes
    store = SQLiteStore(path)
    (win,) = [v for k, v in outcomes if k == "win"]
    assert [r.id for r in store.active("hot")] == [win]
    check_invariants(store)


def _churn(path: str, n: int, rounds: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    mgr = SlotManager(SQLiteStore(path))
    wins = 0
    for _ in range(rounds):
        try:
            r = mgr.book("hot", user=f"p{n}")
        except SlotConflict:
            continue
        mgr.cancel_reservation(r.id, user=f"p{n}")
        wins += 1
    results.put(wins)


@pytest.mark.slow
def test_processes_churning_one_sqlite_slot(tmp_path: Path) -> None:
    """4 processes book and cancel in a loop: every success is in history exactly once."""
    path = str(tmp_path / "churn.db")
    SlotManager(SQLiteStore(path)).add_slot("hot")
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_churn, args=(path, n, 150, results)) for n in range(4)]
    for p in procs:
        p.start()
    wins = sum(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    store = SQLiteStore(path)
    rows = store.history("hot")
    assert len(rows) == 1 + 2 * wins
    assert sum(1 for r in rows if r.event == "book") == wins
    check_invariants(store)
    store.close()
