"""The invariants every consistent store keeps, checked on a snapshot of some slots."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Protocol

import attrs

from .._lifecycle import Lifecycle
from .._records import HistoryEntry, Hold, Slot

__all__ = ["SlotView", "check_invariants", "snapshot"]


@attrs.frozen
class SlotView:
    """Everything stored about one slot: the slot (``None``: absent), records, history."""

    slot: Slot | None
    records: tuple[Hold, ...] = ()
    history: tuple[HistoryEntry, ...] = ()


class _Readable(Protocol):
    def slot(self, slot_id: str) -> Slot | None: ...
    def records(self, slot_id: str) -> list[Hold]: ...
    def history(self, slot_id: str) -> list[HistoryEntry]: ...


def snapshot(store: _Readable, slot_ids: Iterable[str]) -> dict[str, SlotView]:
    """Read the slots, records and history of ``slot_ids`` from a store (or a model view).

    Absent slots appear with ``slot=None`` (and must have no records and no history).
    """
    return {
        sid: SlotView(store.slot(sid), tuple(store.records(sid)), tuple(store.history(sid)))
        for sid in slot_ids
    }


def check_invariants(lifecycle: Lifecycle, views: Mapping[str, SlotView]) -> list[str]:
    """The invariant violations in a snapshot (empty when consistent).

    Checked per slot: an absent slot has no records or history; the status is a
    lifecycle state; at most one active record; ``lifecycle.hold_of(status)`` is the kind
    of its one active record (or none is active); the records belong to the slot; the
    history starts with a creation row (source ``None``) and each later row's source is
    the previous row's target; the last target is the status; the version equals the
    number of history rows and the rows are numbered 1..n.
    """
    problems: list[str] = []
    for sid, view in views.items():
        slot = view.slot
        if slot is None:
            if view.records or view.history:
                problems.append(f"slot {sid}: absent but has records or history")
            continue
        where = f"slot {sid} ({slot.status}, v{slot.version})"
        if slot.status not in lifecycle.states:
            problems.append(f"{where}: status is not a state of {lifecycle.name!r}")
            continue
        for r in view.records:
            if r.slot_id != sid:
                problems.append(f"{where}: record {r.id} belongs to slot {r.slot_id}")
        active = [r for r in view.records if r.active]
        if len(active) > 1:
            problems.append(
                f"{where}: {len(active)} active records "
                f"({', '.join(f'{r.kind} {r.id}' for r in active)}); at most one allowed"
            )
        held = lifecycle.hold_of(slot.status)
        kinds = sorted({r.kind for r in active})
        if held is None and kinds:
            problems.append(f"{where}: holds no record in this status but has an active "
                            f"{', '.join(kinds)}")
        elif held is not None and kinds != [held]:
            problems.append(f"{where}: must hold exactly one active {held}, "
                            f"has {kinds or 'none'}")
        rows = view.history
        if not rows:
            problems.append(f"{where}: no history")
            continue
        if rows[0].source is not None:
            problems.append(f"{where}: first history row has source {rows[0].source!r}, "
                            "not None (creation)")
        for i, (before, after) in enumerate(itertools.pairwise(rows), start=2):
            if after.source != before.target:
                problems.append(f"{where}: history row {i} leaves {after.source!r} but row "
                                f"{i - 1} entered {before.target!r}")
        if [r.version for r in rows] != list(range(1, len(rows) + 1)):
            problems.append(f"{where}: history versions {[r.version for r in rows]} "
                            "are not 1..n")
        if rows[-1].target != slot.status:
            problems.append(f"{where}: history replays to {rows[-1].target!r}")
        if slot.version != len(rows):
            problems.append(f"{where}: version is not the number of history rows "
                            f"({len(rows)})")
    return problems
