"""The store interface: apply one whole Change atomically, or say the slot moved on."""

from __future__ import annotations

import abc
from types import TracebackType

from .._records import Applied, Change, HistoryEntry, Hold, Outcome, Slot

__all__ = ["Store"]


class Store(abc.ABC):
    """Base class of every store. Few abstract methods; :class:`MemoryStore` is the reference.

    The one writing method is :meth:`commit`. Its contract, which every store keeps and
    ``slotfsm.testing``'s store contract checks, is, as ONE atomic step:

    1. Resolve the slot: ``change.slot_id``, or, when that is ``None``, the slot of the
       record ``change.closes.record_id`` (no such record, or one of another kind:
       ``Stale(None, None)``).
    2. Creation (``change.source is None``): if the slot exists return
       ``Stale(slot)``; else insert it with status ``change.target`` and version 1 and
       the history row (version 1, source ``None``).
    3. Otherwise the slot must exist with status ``change.source`` and, unless
       ``change.version`` is ``None``, version ``change.version``; else ``Stale(slot)``
       (with the record it looked at, for closing changes).
    4. ``change.closes``: the record (by id, or the slot's active one of that kind) must
       exist, belong to the slot, be of that kind, be active, and, unless
       ``closes.owner`` is ``None``, be held by ``closes.owner``; else
       ``Stale(slot, record_or_None)``.
    5. Apply everything or nothing: slot status ``change.target`` and version + 1, the
       closed record's status ``closes.outcome`` and ``ended_at = change.at``, the
       opened record inserted, one history row with the new version. Return
       :class:`Applied`.

    Stores never raise for a stale world; they raise :class:`~slotfsm.StoreUnavailable`
    when the server cannot be reached, and :class:`~slotfsm.SlotConflict` only when a
    write failed on a uniqueness or integrity check the compare did not foresee.
    """

    #: URL scheme(s) this store answers to in ``open_store``.
    schemes: tuple[str, ...] = ()

    @abc.abstractmethod
    def commit(self, change: Change) -> Outcome:
        """Apply ``change`` atomically if the world is as it expects, else report Stale."""

    @abc.abstractmethod
    def slot(self, slot_id: str) -> Slot | None:
        """The stored slot, or ``None``."""

    @abc.abstractmethod
    def slots(self, status: str | None = None) -> list[Slot]:
        """All slots (with ``status`` if given), ordered by id."""

    @abc.abstractmethod
    def record(self, record_id: str) -> Hold | None:
        """The stored record (reservation, session, …), or ``None``."""

    @abc.abstractmethod
    def records(self, slot_id: str) -> list[Hold]:
        """Every record of a slot, oldest first."""

    @abc.abstractmethod
    def history(self, slot_id: str) -> list[HistoryEntry]:
        """The slot's history rows, oldest (version 1) first."""

    def active(self, slot_id: str) -> list[Hold]:
        """The slot's active records."""
        return [r for r in self.records(slot_id) if r.active]

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release connections; the store is unusable afterwards."""

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def applied(change: Change, slot_id: str, version: int, opened: Hold | None,
            closed: Hold | None) -> Applied:
    """Build the Applied outcome every store returns after writing ``change``."""
    return Applied(change, slot_id, version, opened, closed)


def closes_ok(change: Change, record: Hold | None, slot_id: str) -> bool:
    """Step 4 of the commit contract, for stores that read the record in Python."""
    closes = change.closes
    assert closes is not None
    return (
        record is not None
        and record.slot_id == slot_id
        and record.kind == closes.kind
        and record.active
        and (closes.owner is None or record.user == closes.owner)
    )



