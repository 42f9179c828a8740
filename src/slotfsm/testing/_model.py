"""The reference model: the whole system (slots, records, history) from a Lifecycle alone.

It answers every :class:`~slotfsm.SlotManager` operation the way a manager over a
correct store must: the same returned record or slot, or the same error class and
message. It reads no store; the store contract and the model checker hold stores and
lifecycles to it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from .._engine import check_holder, override_error
from .._ids import record_id as shaped_record_id
from .._lifecycle import CREATE_EVENT, Lifecycle, Transition
from .._manager import SlotManager, check_call, check_id
from .._records import Applied, HistoryEntry, Hold, Slot, hold_title, make_hold
from ..errors import InvalidInput, NotFound, SlotConflict, SlotFSMError
from ._invariants import SlotView

__all__ = [
    "NAMED",
    "OPERATIONS",
    "Fired",
    "Operation",
    "Race",
    "ReferenceModel",
    "Result",
    "named_operations",
    "perform",
]

#: The SlotManager shortcuts of the default lifecycle: name -> (event, opens or closes).
NAMED: dict[str, tuple[str, str]] = {
    "book": ("book", "reservation"),
    "start": ("start", "session"),
    "cancel": ("cancel", "reservation"),
    "complete": ("complete", "reservation"),
    "stop": ("stop", "session"),
}
_OPENING = ("book", "start")


def named_operations(lifecycle: Lifecycle) -> tuple[str, ...]:
    """The SlotManager shortcuts (``book``, ``cancel``, ...) that work with ``lifecycle``.

    A shortcut works when its event exists and opens (or closes) the record kind it
    returns; all five work with the default lifecycle, none with most custom ones.
    """
    found = []
    for name, (event, kind) in NAMED.items():
        ts = [t for t in lifecycle.transitions if t.event == event]
        if not ts:
            continue
        if name in _OPENING:
            if all(t.opens == kind for t in ts):
                found.append(name)
        elif lifecycle.closes_kind(event) == kind:
            found.append(name)
    return tuple(found)

#: Every operation name an :class:`Operation` may carry.
OPERATIONS = ("add_slot", *NAMED, "fire", "close_record")



@attrs.frozen(repr=False)
class Operation:
    """One SlotManager call.

    Attributes:
        name: One of ``add_slot``, ``book``, ``cancel``, ``complete``, ``start``, ``stop``,
            ``fire``, ``close_record``.
        slot: The slot id (``add_slot``, ``book``, ``start``, ``fire``); any value, to
            test bad input.
        record: The record addressed (closing operations): a record id, or an ``int``
            ``n`` meaning "the n-th record opened so far" (modulo their number; an
            unknown id when there is none), resolved by :meth:`ReferenceModel.resolve`.
        event: The event (``fire``, ``close_record``).
        user: Who asks.
        override: Operator override.
        context: Extra guard arguments, as ``(name, value)`` pairs.
    """

    name: str
    slot: Any = None
    record: Any = None
    event: Any = None
    user: Any = None
    override: Any = False
    context: tuple[tuple[str, Any], ...] = ()

    def __attrs_post_init__(self) -> None:
        if self.name not in OPERATIONS:
            raise InvalidInput(f"unknown operation {self.name!r}; known: {list(OPERATIONS)}")

    def __repr__(self) -> str:
        parts = []
        if self.name in ("add_slot", "book", "start", "fire"):
            parts.append(repr(self.slot))
        else:
            parts.append(f"record#{self.record}" if type(self.record) is int
                         else repr(self.record))
        if self.name in ("fire", "close_record"):
            parts.append(repr(self.event))
        if self.name != "add_slot":
            parts.append(f"user={self.user!r}")
        if self.override is not False:
            parts.append(f"override={self.override!r}")
        parts.extend(f"{k}={v!r}" for k, v in self.context)
        return f"{self.name}({', '.join(parts)})"


@attrs.frozen
class Race:
    """Two operations started at once (two users on one slot); either order may win."""

    first: Operation
    second: Operation


@attrs.frozen
class Fired:
    """What ``SlotManager.fire`` returned, as compared: new slot, history row, records.

    (:class:`~slotfsm.Applied` also carries the decided Change, whose details, such as
    whether the decision was optimistic, are the manager's business, not the contract's.)
    """

    slot: Slot
    entry: HistoryEntry
    opened: Hold | None = None
    closed: Hold | None = None

    @classmethod
    def of(cls, applied: Applied) -> Fired:
        """The comparable view of an Applied change."""
        return cls(applied.slot, applied.entry, applied.opened, applied.closed)


@attrs.frozen
class Result:
    """What an operation returned (``value``) or the error it raised (``error``, ``message``)."""

    value: Any = None
    error: type[SlotFSMError] | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        """True when the operation succeeded."""
        return self.error is None

    @classmethod
    def failure(cls, exc: SlotFSMError) -> Result:
        """The Result of a raised slotfsm error."""
        return cls(None, type(exc), exc.message)

    def __str__(self) -> str:
        if self.error is None:
            return f"ok {self.value!r}"
        return f"{self.error.__name__}: {self.message}"


def perform(manager: SlotManager, op: Operation) -> Result:
    """Run ``op`` (with concrete ids, see :meth:`ReferenceModel.resolve`) on ``manager``.

    Returns:
        The :class:`Result`: the returned Slot, record or Applied, or the slotfsm error.
        Any other exception propagates: it is a bug, not a refusal.
    """
    name = op.name
    context = dict(op.context)
    try:
        value: Any
        if name == "add_slot":
            value = manager.add_slot(op.slot)
        elif name == "book":
            value = manager.book(op.slot, user=op.user)
        elif name == "start":
            value = manager.start_charging(op.slot, user=op.user)
        elif name == "cancel":
            value = manager.cancel_reservation(op.record, user=op.user, override=op.override)
        elif name == "complete":
            value = manager.complete_reservation(op.record, user=op.user, override=op.override)
        elif name == "stop":
            value = manager.stop_charging(op.record, user=op.user, override=op.override)
        elif name == "fire":
            value = Fired.of(manager.fire(op.slot, op.event, user=op.user,
                                          override=op.override, **context))
        else:
            value = manager.close_record(op.record, op.event, user=op.user,
                                         override=op.override, **context)
    except SlotFSMError as exc:
        return Result.failure(exc)
    return Result(value)


def record_id(kind: str, slot_id: str, n: int, salt: str = "") -> str:
    """The deterministic id of the ``n``-th record opened (shaped like slotfsm's own ids).

    It embeds the slot's tag as :func:`slotfsm._ids.new_record_id` does, so stores that
    shard by slot find the record from its id.
    """
    return shaped_record_id(kind, slot_id, f"m{n:x}{salt}")


NewId = Callable[[str, str], str]


class ReferenceModel:
    """The whole system, derived from a Lifecycle; answers like a manager over a correct store.

    Args:
        lifecycle: The lifecycle to model.
        start: The first timestamp; :meth:`tick` advances :attr:`now` by one.

    Attributes:
        now: The timestamp the next operation is stamped with (a test clock returns it).
        slots, records, history: The modelled state; records in the order opened.

    Example::

        >>> from slotfsm import SLOT_LIFECYCLE
        >>> model = ReferenceModel(SLOT_LIFECYCLE)
        >>> model.apply(Operation("add_slot", "s0")).value
        Slot(id='s0', status='available', version=1)
        >>> print(model.apply(Operation("start", "s0", user="u1")).value.status)
        active
        >>> print(model.apply(Operation("book", "s0", user="u2")).error.__name__)
        SlotConflict
    """

    def __init__(self, lifecycle: Lifecycle, *, start: float = 1000.0) -> None:
        if not isinstance(lifecycle, Lifecycle):
            raise InvalidInput(f"lifecycle must be a slotfsm.Lifecycle, not {lifecycle!r}")
        self.lifecycle = lifecycle
        self.now = float(start)
        self.slots: dict[str, Slot] = {}
        self.records: dict[str, Hold] = {}
        self.history: dict[str, list[HistoryEntry]] = {}

    # -- housekeeping --------------------------------------------------------------------

    def copy(self) -> ReferenceModel:
        """An independent copy (records are immutable, so containers are copied shallowly)."""
        other = copy.copy(self)
        other.slots = dict(self.slots)
        other.records = dict(self.records)
        other.history = {k: list(v) for k, v in self.history.items()}
        return other

    def tick(self) -> float:
        """Advance the clock by one and return the new time."""
        self.now += 1.0
        return self.now

    def next_record_id(self, kind: str, slot_id: str, salt: str = "") -> str:
        """The id the next opened record gets (the default ``new_id`` of the model)."""
        return record_id(kind, slot_id, len(self.records) + 1, salt)

    def resolve(self, op: Operation, unknown: str = "r_00000000_unknown") -> Operation:
        """Replace an ordinal ``record`` reference with a concrete id (or ``unknown``)."""
        if type(op.record) is not int:
            return op
        ids = list(self.records)
        rid = ids[op.record % len(ids)] if ids else unknown
        return attrs.evolve(op, record=rid)

    def active(self, slot_id: str) -> list[Hold]:
        """The slot's active records."""
        return [r for r in self.records.values() if r.slot_id == slot_id and r.active]

    def records_of(self, slot_id: str) -> list[Hold]:
        """All records of a slot, oldest first."""
        return [r for r in self.records.values() if r.slot_id == slot_id]

    def views(self, slot_ids: Iterable[str]) -> dict[str, SlotView]:
        """What a correct store holds for ``slot_ids`` (compare with :func:`snapshot`)."""
        return {
            sid: SlotView(self.slots.get(sid), tuple(self.records_of(sid)),
                          tuple(self.history.get(sid, ())))
            for sid in slot_ids
        }

    # -- operations ----------------------------------------------------------------------

    def apply(self, op: Operation, new_id: NewId | None = None) -> Result:
        """Apply ``op`` (ordinal references resolved first); change nothing if it is refused.

        Args:
            op: The operation.
            new_id: ``new_id(kind, slot_id)`` for an opened record; by default
                :meth:`next_record_id`.
        """
        op = self.resolve(op)
        ids = new_id or self.next_record_id
        try:
            return Result(self._dispatch(op, ids))
        except SlotFSMError as exc:
            return Result.failure(exc)

    def _dispatch(self, op: Operation, ids: NewId) -> Any:
        name = op.name
        if name == "add_slot":
            return self._add_slot(op.slot)
        context = dict(op.context)
        if name in _OPENING:
            return self._fire(op.slot, NAMED[name][0], op.user, False, {}, ids).opened
        if name in NAMED:
            return self._close_record(op.record, NAMED[name][0], op.user, op.override, {}, ids)
        if name == "fire":
            return self._fire(op.slot, op.event, op.user, op.override, context, ids)
        return self._close_record(op.record, op.event, op.user, op.override, context, ids)

    def _add_slot(self, slot_id: Any) -> Slot:
        check_id(slot_id, "slot id")
        if slot_id in self.slots:
            raise SlotConflict(f"Slot {slot_id} already exists", slot_id=slot_id)
        slot = Slot(slot_id, self.lifecycle.initial, 1)
        self.slots[slot_id] = slot
        self.history[slot_id] = [
            HistoryEntry(slot_id, 1, CREATE_EVENT, None, slot.status, None, self.now)
        ]
        return slot

    def _check_call(self, event: Any, user: Any, override: Any, context: Mapping[str, Any]) -> None:
        # Argument checking is the manager's vocabulary, not the behaviour under test.
        check_call(self.lifecycle, event, user, override, context)

    def _choose(
        self, slot: Slot, event: str, user: str, context: Mapping[str, Any]
    ) -> Transition:
        refused: str | None = None
        for t in self.lifecycle.transitions_for(event, slot.status):
            for guard in t.guards:
                if not guard(slot=slot, user=user, event=event, **context):
                    refused = guard.name
                    break
            else:
                return t
        message = self.lifecycle.refusal_message(event, slot.status, slot.id, user, refused)
        raise SlotConflict(message, slot_id=slot.id, event=event, status=slot.status,
                           guard=refused, user=user)

    def _fire(
        self, slot_id: Any, event: Any, user: Any, override: Any,
        context: Mapping[str, Any], ids: NewId,
    ) -> Fired:
        check_id(slot_id, "slot id")
        self._check_call(event, user, override, context)
        slot = self.slots.get(slot_id)
        if slot is None:
            raise NotFound(f"Slot {slot_id} not found", slot_id=slot_id, event=event)
        t = self._choose(slot, event, user, context)
        closing: Hold | None = None
        if t.closes is not None:
            held = [r for r in self.active(slot_id) if r.kind == t.closes]
            if not held:
                raise SlotConflict(
                    f"Slot {slot_id} kept changing while deciding {event!r}; try again",
                    slot_id=slot_id, event=event,
                )
            closing = held[0]
            check_holder(closing, user, override, hold_title(t.closes))
        elif override:
            raise override_error(event)
        return self._commit(slot, t, user, override, closing, ids)

    def _close_record(
        self, rid: Any, event: Any, user: Any, override: Any,
        context: Mapping[str, Any], ids: NewId,
    ) -> Hold:
        check_id(rid, "record id")
        self._check_call(event, user, override, context)
        kind = self.lifecycle.closes_kind(event)
        if kind is None:
            raise InvalidInput(f"event {event!r} does not close one kind of record", event=event)
        title = hold_title(kind)
        record = self.records.get(rid)
        if record is None or record.kind != kind:
            raise NotFound(f"{title} {rid} not found", record_id=rid)
        check_holder(record, user, override, title)
        slot = self.slots[record.slot_id]
        t = self._choose(slot, event, user, context)
        closed = self._commit(slot, t, user, override, record, ids).closed
        assert closed is not None
        return closed

    def _commit(
        self, slot: Slot, t: Transition, user: str, override: bool,
        closing: Hold | None, ids: NewId,
    ) -> Fired:
        assert slot.version is not None
        version = slot.version + 1
        now = self.now
        opened = None
        if t.opens is not None:
            opened = make_hold(t.opens, ids(t.opens, slot.id), slot.id, user, created_at=now)
        closed = None
        if closing is not None:
            assert t.outcome is not None
            closed = attrs.evolve(closing, status=t.outcome, ended_at=now)
            self.records[closed.id] = closed
        if opened is not None:
            self.records[opened.id] = opened
        new = Slot(slot.id, t.target, version)
        self.slots[slot.id] = new
        ref = opened.id if opened is not None else (closed.id if closed is not None else None)
        entry = HistoryEntry(slot.id, version, t.event, slot.status, t.target, user, now,
                             ref, override)
        self.history[slot.id].append(entry)
        return Fired(new, entry, opened, closed)
