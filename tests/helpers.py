"""Thin wrappers over slotfsm.testing's invariants, for tests that hold a whole store."""

from __future__ import annotations

from typing import Any

from slotfsm import SLOT_LIFECYCLE, Lifecycle, Store
from slotfsm.testing import check_invariants as invariant_problems
from slotfsm.testing import snapshot as snapshot_of


def snapshot(store: Store) -> dict[str, Any]:
    """Everything a store holds, for 'a refused operation changed nothing' checks."""
    return snapshot_of(store, [s.id for s in store.slots()])


def check_invariants(store: Store, lifecycle: Lifecycle = SLOT_LIFECYCLE) -> None:
    """Assert the invariants over every slot of ``store``."""
    problems = invariant_problems(lifecycle, snapshot(store))
    assert not problems, "\n".join(problems)
