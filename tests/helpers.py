"""Checks for tests that hold a whole store, over slotfsm.testing's invariants."""

from __future__ import annotations

import collections
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


def replay(store: Store, slot_ids: list[str]) -> collections.Counter[tuple[str, str]]:
    """Check the invariants, then replay each slot's history record by record.

    Never two records held at once, every close closes the held one, the history ends
    where the store is, and every stored record was opened in it. Returns how often
    each ``(event, record id)`` appears in the history (record ids are globally unique).
    """
    check_invariants(store)
    seen: collections.Counter[tuple[str, str]] = collections.Counter()
    for sid in slot_ids:
        rows = store.history(sid)
        assert rows[0].event == "create", rows[0]
        held: str | None = None
        for row in rows[1:]:
            assert row.ref is not None, row
            seen[(row.event, row.ref)] += 1
            if row.event in ("book", "start"):
                assert held is None, f"double booking on {sid}: {row} while {held} active"
                held = row.ref
            else:
                assert held == row.ref, f"{sid}: {row} closes {row.ref}, active is {held}"
                held = None
        assert [r.id for r in store.active(sid)] == ([held] if held else []), sid
        opened = {r.ref for r in rows if r.event in ("book", "start")}
        assert {r.id for r in store.records(sid)} == opened, sid
    return seen
