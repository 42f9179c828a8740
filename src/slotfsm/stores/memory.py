"""MemoryStore: the thread-safe, in-process reference store."""

from __future__ import annotations

import threading

from .._records import Applied, Change, HistoryEntry, Hold, Outcome, Slot, Stale, make_hold
from ._base import Store, closes_ok

__all__ = ["MemoryStore"]


class MemoryStore(Store):
    """Keeps everything in dicts behind one lock. The reference every store is held to.

    It keeps compact tuples and the Applied outcomes themselves, and builds Slot and
    HistoryEntry records only when they are read.

    Example::

        >>> from slotfsm import MemoryStore, SlotManager
        >>> SlotManager(MemoryStore()).add_slot("A1")
        Slot(id='A1', status='available', version=1)
    """

    schemes = ("memory",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[str, tuple[str, int]] = {}  # id -> (status, version)
        self._records: dict[str, Hold] = {}
        self._by_slot: dict[str, list[str]] = {}
        self._active: dict[tuple[str, str], str] = {}  # (slot id, kind) -> record id
        self._history: dict[str, list[Applied]] = {}

    def __repr__(self) -> str:
        return "MemoryStore()"

    def commit(self, change: Change) -> Outcome:
        closes = change.closes
        with self._lock:
            slot_id = change.slot_id
            record = None
            if slot_id is None:
                assert closes is not None and closes.record_id is not None
                record = self._records.get(closes.record_id)
                if record is None or record.kind != closes.kind:
                    return Stale(None, None)
                slot_id = record.slot_id
            elif closes is not None:
                record_id = closes.record_id or self._active.get((slot_id, closes.kind))
                record = self._records.get(record_id) if record_id is not None else None
            stored = self._slots.get(slot_id)
            if change.source is None:
                if stored is not None:
                    return Stale(Slot(slot_id, *stored))
                result = Applied(change, slot_id, 1)
                self._slots[slot_id] = (change.target, 1)
                self._by_slot[slot_id] = []
                self._history[slot_id] = [result]
                return result
            if stored is None or stored[0] != change.source or (
                change.version is not None and stored[1] != change.version
            ):
                return Stale(None if stored is None else Slot(slot_id, *stored), record)
            closed = None
            if closes is not None:
                if not closes_ok(change, record, slot_id):
                    return Stale(Slot(slot_id, *stored), record)
                assert record is not None
                closed = make_hold(record.kind, record.id, slot_id, record.user, closes.outcome,
                                   record.created_at, change.at)
            version = stored[1] + 1
            result = Applied(change, slot_id, version, change.opens, closed)
            # Everything is checked; from here on nothing can fail halfway.
            if closed is not None:
                self._records[closed.id] = closed
                del self._active[(slot_id, closed.kind)]
            opened = change.opens
            if opened is not None:
                self._records[opened.id] = opened
                self._by_slot[slot_id].append(opened.id)
                self._active[(slot_id, opened.kind)] = opened.id
            self._slots[slot_id] = (change.target, version)
            self._history[slot_id].append(result)
            return result

    def slot(self, slot_id: str) -> Slot | None:
        stored = self._slots.get(slot_id)
        return None if stored is None else Slot(slot_id, *stored)

    def slots(self, status: str | None = None) -> list[Slot]:
        with self._lock:
            found = [Slot(i, *s) for i, s in self._slots.items()
                     if status is None or s[0] == status]
        return sorted(found, key=lambda s: s.id)

    def record(self, record_id: str) -> Hold | None:
        return self._records.get(record_id)

    def records(self, slot_id: str) -> list[Hold]:
        with self._lock:
            return [self._records[i] for i in self._by_slot.get(slot_id, ())]

    def history(self, slot_id: str) -> list[HistoryEntry]:
        with self._lock:
            applied = list(self._history.get(slot_id, ()))
        return [a.entry for a in applied]
