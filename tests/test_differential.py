"""Differential: the same random operations on every store give identical results and history."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from conftest import StoreFactory
from helpers import check_invariants
from slotfsm import MemoryStore, SlotFSMError, SlotManager, Store
from slotfsm._ids import record_id

SLOTS = ["s1", "s2", "s3"]
USERS = ["u1", "u2"]


def deterministic_manager(store: Store) -> SlotManager:
    clock = itertools.count(1_700_000_000)
    ids = itertools.count(1)
    return SlotManager(
        store,
        clock=lambda: float(next(clock)),
        # Deterministic, but shaped like new_record_id: sharded stores route by the tag.
        new_id=lambda kind, slot_id: record_id(kind, slot_id, f"{next(ids):06d}"),
    )


def run(store: Store, seed: int, steps: int) -> list[Any]:
    """Apply a seeded random sequence; return every result or error, then the final state."""
    rng = random.Random(seed)
    mgr = deterministic_manager(store)
    opened: list[str] = []
    log: list[Any] = []
    for _ in range(steps):
        op = rng.choice(["add", "book", "start", "cancel", "complete", "stop", "fire", "bad"])
        slot = rng.choice([*SLOTS, "ghost"])
        user = USERS[0] if rng.random() < 0.7 else rng.choice(USERS)
        # Mostly recent records (likely still active), sometimes stale or unknown ones.
        if opened and rng.random() < 0.8:
            record = rng.choice(opened[-2:])
        else:
            record = rng.choice([*opened, "r_000000", "nope"])
        override = rng.random() < 0.1
        try:
            if op == "add":
                result: Any = mgr.add_slot(slot)
            elif op == "book":
                result = mgr.book(slot, user=user)
            elif op == "start":
                result = mgr.start_charging(slot, user=user)
            elif op == "cancel":
                result = mgr.cancel_reservation(record, user=user, override=override)
            elif op == "complete":
                result = mgr.complete_reservation(record, user=user, override=override)
            elif op == "stop":
                result = mgr.stop_charging(record, user=user, override=override)
            elif op == "fire":
                event = rng.choice(["book", "cancel", "start", "stop", "complete"])
                result = mgr.fire(slot, event, user=user).entry
            else:
                result = mgr.fire(slot, rng.choice(["", "explode"]), user=user)
            if getattr(result, "status", None) == "active":
                opened.append(result.id)
            log.append(("ok", op, result))
        except SlotFSMError as err:
            log.append(("err", op, type(err).__name__, err.message))
    for slot in sorted({s.id for s in store.slots()}):
        log.append(("final", store.slot(slot), store.records(slot), store.history(slot)))
    check_invariants(store)
    return log


@pytest.mark.parametrize("seed", range(6))
def test_same_results_and_history_on_every_store(store_factory: StoreFactory, seed: int) -> None:
    """Each store agrees with MemoryStore, step by step, and in the final state and history."""
    reference = run(MemoryStore(), seed, 120)
    store = store_factory()
    try:
        got = run(store, seed, 120)
    finally:
        store.close()
    for i, (want, have) in enumerate(zip(reference, got, strict=True)):
        assert have == want, f"step {i} differs"
