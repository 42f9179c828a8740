"""Checks shared by the test modules: whole-store snapshots and the invariants."""

from __future__ import annotations

import itertools
from typing import Any

from slotfsm import SLOT_LIFECYCLE, Lifecycle, Store


def snapshot(store: Store) -> dict[str, Any]:
    """Everything a store holds, for 'a refused operation changed nothing' checks."""
    return {
        s.id: (s, store.records(s.id), store.history(s.id)) for s in store.slots()
    }


def check_invariants(store: Store, lifecycle: Lifecycle = SLOT_LIFECYCLE) -> None:
    """Status agrees with active records; at most one active; history replays; versions."""
    for slot in store.slots():
        active = store.active(slot.id)
        assert len(active) <= 1, f"{slot.id}: {len(active)} active records: {active}"
        held = lifecycle.hold_of(slot.status)
        assert [r.kind for r in active] == ([held] if held else []), (slot, active)
        rows = store.history(slot.id)
        assert [r.version for r in rows] == list(range(1, len(rows) + 1)), rows
        assert rows[0].source is None and rows[0].event == "create"
        for before, after in itertools.pairwise(rows):
            assert after.source == before.target, (before, after)
        assert rows[-1].target == slot.status
        assert slot.version == len(rows)
