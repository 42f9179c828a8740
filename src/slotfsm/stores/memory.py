"""MemoryStore: the thread-safe, in-process reference store."""

from __future__ import annotations

import threading

from .._records import Change, HistoryEntry, Hold, Outcome, Slot, Stale, make_hold
from ._base import Store, applied, closes_ok

__all__ = ["MemoryStore"]


class MemoryStore(Store):
    """Keeps everything in dicts behind one lock. The reference every store is held to.

    Example::

        >>> from slotfsm import MemoryStore, SlotManager
        >>> SlotManager(MemoryStore()).add_slot("A1")
        Slot(id='A1', status='available', version=1)
    """

    schemes = ("memory",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[str, Slot] = {}
        self._records: dict[str, Hold] = {}
        self._by_slot: dict[str, list[str]] = {}
        self._active: dict[tuple[str, str], str] = {}
        self._history: dict[str, list[HistoryEntry]] = {}

    def __repr__(self) -> str:
        return "MemoryStore()"

    def commit(self, change: Change) -> Outcome:
        with self._lock:
            closes = change.closes
            slot_id = change.slot_id
            if slot_id is None:
                assert closes is not None and closes.record_id is not None
                found = self._records.get(closes.record_id)
                if found is None or found.kind != closes.kind:
                    return Stale(None, None)
                slot_id = found.slot_id
            slot = self._slots.get(slot_id)
            if change.source is None:
                if slot is not None:
                    return Stale(slot)
                result = applied(change, slot_id, 1, None, None)
                self._slots[slot_id] = result.slot
                self._by_slot[slot_id] = []
                self._history[slot_id] = [result.entry]
                return result
            if slot is None or slot.status != change.source or (
                change.version is not None and slot.version != change.version
            ):
                return Stale(slot, self._looked_at(change, slot_id) if closes else None)
            closed = None
            if closes is not None:
                record = self._looked_at(change, slot_id)
                if not closes_ok(change, record, slot_id):
                    return Stale(slot, record)
                assert record is not None
                closed = make_hold(record.kind, record.id, slot_id, record.user, closes.outcome,
                                   record.created_at, change.at)
            assert slot.version is not None
            result = applied(change, slot_id, slot.version + 1, change.opens, closed)
            # Everything is checked; from here on nothing can fail halfway.
            if closed is not None:
                self._records[closed.id] = closed
                del self._active[(slot_id, closed.kind)]
            opened = change.opens
            if opened is not None:
                self._records[opened.id] = opened
                self._by_slot[slot_id].append(opened.id)
                self._active[(slot_id, opened.kind)] = opened.id
            self._slots[slot_id] = result.slot
            self._history[slot_id].append(result.entry)
            return result

    def _looked_at(self, change: Change, slot_id: str) -> Hold | None:
        closes = change.closes
        assert closes is not None
        record_id = closes.record_id or self._active.get((slot_id, closes.kind))
        return self._records.get(record_id) if record_id is not None else None

    def slot(self, slot_id: str) -> Slot | None:
        return self._slots.get(slot_id)

    def slots(self, status: str | None = None) -> list[Slot]:
        with self._lock:
            found = list(self._slots.values())
        return sorted(
            (s for s in found if status is None or s.status == status), key=lambda s: s.id
        )

    def record(self, record_id: str) -> Hold | None:
        return self._records.get(record_id)

    def records(self, slot_id: str) -> list[Hold]:
        with self._lock:
            return [self._records[i] for i in self._by_slot.get(slot_id, ())]

    def history(self, slot_id: str) -> list[HistoryEntry]:
        with self._lock:
            return list(self._history.get(slot_id, ()))
