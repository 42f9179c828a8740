"""SlotManager: the host's entry point. Decide (pure), then commit (atomic, in the store)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, cast

from ._default import SLOT_LIFECYCLE
from ._engine import UNKNOWN, Engine, override_error
from ._ids import new_record_id
from ._lifecycle import CREATE_EVENT, Lifecycle
from ._records import Applied, Change, ChargingSession, HistoryEntry, Hold, Reservation, Slot
from .errors import InvalidInput, NotFound, SlotConflict
from .stores import MemoryStore, Store

__all__ = ["MAX_ID_LENGTH", "SlotManager", "check_call", "check_id"]

#: Longest slot id, record id or user name accepted (characters). Long enough for any
#: natural key, short enough for every store's index limits.
MAX_ID_LENGTH = 512

_RESERVED_CONTEXT = frozenset({"slot", "user", "event"})
_NO_CONTEXT: dict[str, Any] = {}


def check_id(value: object, what: str) -> str:
    """Validate an id or user name: a printable, non-empty string of bounded length.

    Raises:
        InvalidInput: naming ``what`` and the problem.
    """
    if type(value) is not str:
        raise InvalidInput(f"{what} must be a string, not {type(value).__name__}")
    if not value or len(value) > MAX_ID_LENGTH or not value.isprintable():
        if not value:
            problem = "is empty"
        elif len(value) > MAX_ID_LENGTH:
            problem = f"is {len(value)} characters long (at most {MAX_ID_LENGTH})"
        else:
            problem = "contains control or non-printable characters"
        raise InvalidInput(f"{what} {problem}")
    return value


def check_call(
    lifecycle: Lifecycle, event: object, user: object, override: object,
    context: Mapping[str, Any],
) -> None:
    """Validate the arguments of ``fire``/``close_record`` before anything is read.

    Raises:
        InvalidInput: an unknown event, a bad user, a non-bool or misplaced override, or
            context that reuses a name the guards get anyway.
    """
    if type(event) is not str or event not in lifecycle.events:
        raise InvalidInput(f"Unknown event {event!r}; known: {list(lifecycle.events)}")
    check_id(user, "user")
    if type(override) is not bool:
        raise InvalidInput(f"override must be True or False, not {override!r}")
    if override and not lifecycle.closes_any(event):
        raise override_error(event)  # whatever the slot or the guards would say
    if context and not _RESERVED_CONTEXT.isdisjoint(context):
        raise InvalidInput(
            f"context may not use the names {sorted(_RESERVED_CONTEXT & set(context))}"
        )


class SlotManager:
    """Runs a Lifecycle over the slots in a Store.

    Every operation decides the whole change in pure code (the ``transitions`` engine,
    guards, ownership) and hands it to the store, which applies it atomically only if
    the slot is still as the decision saw it. If the slot moved on, the manager decides
    again on what the store found, so a loser of a race gets the same error a later
    caller would.

    An event whose transitions have no guards is decided optimistically: the manager
    assumes the status the event leaves from, and the store's compare-and-set checks
    that assumption in the same round trip. Guarded events read the slot first.

    Args:
        store: Where slots live; a fresh :class:`MemoryStore` by default.
        lifecycle: The lifecycle to enforce; :data:`SLOT_LIFECYCLE` by default.
        clock: Returns the timestamp for records and history (seconds).
        new_id: ``new_id(kind, slot_id)`` returns a fresh record id. Keep the shape of
            the default (``<kind>_<slot tag>_<unique>``): sharded stores (Redis Cluster)
            find a record's slot by the tag in its id.
        max_attempts: How many times to decide again when the slot keeps moving.

    The manager keeps no per-slot state: it can serve any number of slots.

    Example::

        >>> import slotfsm
        >>> mgr = slotfsm.SlotManager()
        >>> mgr.add_slot("A1").status
        'available'
        >>> r = mgr.book("A1", user="u1")
        >>> mgr.get_slot("A1").status
        'booked'
        >>> mgr.start_charging("A1", user="u2")
        Traceback (most recent call last):
        ...
        slotfsm.errors.SlotConflict: Slot is booked and not available for charging
        >>> mgr.cancel_reservation(r.id, user="u1").status
        'cancelled'
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        lifecycle: Lifecycle = SLOT_LIFECYCLE,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[str, str], str] = new_record_id,
        max_attempts: int = 8,
    ) -> None:
        if store is None:
            store = MemoryStore()
        if not isinstance(store, Store):
            raise InvalidInput(f"store must be a slotfsm Store, not {type(store).__name__}")
        if not isinstance(lifecycle, Lifecycle):
            raise InvalidInput(f"lifecycle must be a slotfsm.Lifecycle, not {lifecycle!r}")
        self.store = store
        self.lifecycle = lifecycle
        self._engine: Engine = lifecycle.engine
        # The slot an optimistic decision assumes; its id is never shown (no refusal can
        # come from an assumed status) and its version None tells the store to skip it.
        self._assumed = {
            event: Slot("", source, None)
            for event in lifecycle.events
            if (source := lifecycle.optimistic_source(event)) is not None
        }
        self._clock = clock
        self._new_id = new_id
        self._max_attempts = max_attempts

    def __repr__(self) -> str:
        return f"SlotManager({self.store!r}, lifecycle={self.lifecycle.name!r})"

    # -- slots ---------------------------------------------------------------------------

    def add_slot(self, slot_id: str) -> Slot:
        """Create a slot in the lifecycle's initial status.

        Raises:
            InvalidInput: a malformed id.
            SlotConflict: a slot with that id exists.
        """
        check_id(slot_id, "slot id")
        change = Change(CREATE_EVENT, slot_id, None, None, self.lifecycle.initial, None,
                        self._clock())
        outcome = self.store.commit(change)
        if isinstance(outcome, Applied):
            return outcome.slot
        raise SlotConflict(f"Slot {slot_id} already exists", slot_id=slot_id,
                           status=outcome.slot.status if outcome.slot else None)

    def get_slot(self, slot_id: str) -> Slot:
        """The slot with that id.

        Raises:
            NotFound: no such slot.
        """
        check_id(slot_id, "slot id")
        slot = self.store.slot(slot_id)
        if slot is None:
            raise NotFound(f"Slot {slot_id} not found", slot_id=slot_id)
        return slot

    def list_slots(self, status: str | None = None) -> list[Slot]:
        """All slots, or those in ``status``, ordered by id."""
        if status is not None and (
            not isinstance(status, str) or status not in self.lifecycle.states
        ):
            raise InvalidInput(f"Unknown status {status!r}; known: {list(self.lifecycle.states)}")
        return self.store.slots(status)

    def history(self, slot_id: str) -> list[HistoryEntry]:
        """The slot's history, oldest first: event, source, target, user, at, ref.

        Raises:
            NotFound: no such slot.
        """
        self.get_slot(slot_id)
        return self.store.history(slot_id)

    def active(self, slot_id: str) -> list[Hold]:
        """The slot's active records (at most one in a consistent store)."""
        self.get_slot(slot_id)
        return self.store.active(slot_id)

    def get_record(self, record_id: str) -> Hold:
        """A reservation, charging session or other record by id.

        Raises:
            NotFound: no such record.
        """
        check_id(record_id, "record id")
        record = self.store.record(record_id)
        if record is None:
            raise NotFound(f"Record {record_id} not found", record_id=record_id)
        return record

    # -- the seed's operations -----------------------------------------------------------

    def book(self, slot_id: str, *, user: str) -> Reservation:
        """Book an available slot: it becomes ``booked`` with one active Reservation."""
        return cast(Reservation, self._open(slot_id, "book", "reservation", user))

    def cancel_reservation(
        self, reservation_id: str, *, user: str, override: bool = False
    ) -> Reservation:
        """Cancel a reservation; its slot becomes available again.

        Raises:
            NotFound, Forbidden (another user's, without ``override``), SlotConflict.
        """
        return cast(Reservation,
                    self._close(reservation_id, "cancel", "reservation", user, override))

    def complete_reservation(
        self, reservation_id: str, *, user: str, override: bool = False
    ) -> Reservation:
        """Complete a reservation; its slot becomes available again."""
        return cast(Reservation,
                    self._close(reservation_id, "complete", "reservation", user, override))

    def start_charging(self, slot_id: str, *, user: str) -> ChargingSession:
        """Start charging on an available slot: it becomes ``in_use`` with one session."""
        return cast(ChargingSession, self._open(slot_id, "start", "session", user))

    def stop_charging(
        self, session_id: str, *, user: str, override: bool = False
    ) -> ChargingSession:
        """Stop a charging session; its slot becomes available again."""
        return cast(ChargingSession, self._close(session_id, "stop", "session", user, override))

    # The seed's named operations need the lifecycle to have the seed's events; they skip
    # the generic argument checks of fire()/close_record() that cannot fail for them.

    def _open(self, slot_id: str, event: str, kind: str, user: str) -> Hold | None:
        check_id(slot_id, "slot id")
        check_id(user, "user")
        if self.lifecycle.opens_kind(event) != kind:
            raise InvalidInput(
                f"lifecycle {self.lifecycle.name!r} has no {event!r} event opening a {kind}; "
                "use fire()", event=event,
            )
        return self._run(event, slot_id, None, None, user, False, _NO_CONTEXT).opened

    def _close(self, record_id: str, event: str, kind: str, user: str, override: bool) -> Hold:
        check_id(record_id, "record id")
        check_id(user, "user")
        if type(override) is not bool:
            raise InvalidInput(f"override must be True or False, not {override!r}")
        if self.lifecycle.closes_kind(event) != kind:
            raise InvalidInput(
                f"lifecycle {self.lifecycle.name!r} has no {event!r} event closing a {kind}; "
                "use close_record()", event=event,
            )
        closed = self._run(event, None, record_id, kind, user, override, _NO_CONTEXT).closed
        assert closed is not None
        return closed

    # -- any lifecycle -------------------------------------------------------------------

    def fire(
        self, slot_id: str, event: str, *, user: str, override: bool = False, **context: Any
    ) -> Applied:
        """Fire ``event`` on a slot.

        Args:
            slot_id: The slot.
            event: A lifecycle event.
            user: Who asks; must hold the record the event closes, unless ``override``.
            override: An operator acts on another user's record (recorded in history).
            **context: Extra keyword arguments for the guards.

        Returns:
            The :class:`Applied` change: new slot, opened/closed record, history row.

        Raises:
            InvalidInput, NotFound, Forbidden, SlotConflict, StoreUnavailable.
        """
        check_id(slot_id, "slot id")
        self._check_call(event, user, override, context)
        return self._run(event, slot_id, None, None, user, override, context)

    def close_record(
        self, record_id: str, event: str, *, user: str, override: bool = False, **context: Any
    ) -> Hold:
        """Fire ``event`` on the slot of ``record_id``, closing that record.

        Returns:
            The closed record.
        """
        check_id(record_id, "record id")
        self._check_call(event, user, override, context)
        kind = self.lifecycle.closes_kind(event)
        if kind is None:
            raise InvalidInput(f"event {event!r} does not close one kind of record", event=event)
        outcome = self._run(event, None, record_id, kind, user, override, context)
        assert outcome.closed is not None
        return outcome.closed

    def _check_call(
        self, event: object, user: object, override: object, context: dict[str, Any]
    ) -> None:
        check_call(self.lifecycle, event, user, override, context)

    def _run(
        self,
        event: str,
        slot_id: str | None,
        record_id: str | None,
        kind: str | None,
        user: str,
        override: bool,
        context: dict[str, Any],
    ) -> Applied:
        store = self.store
        record: Hold | object | None = UNKNOWN
        # Unguarded: decide on the status the event leaves from; the store checks it.
        slot: Slot | None = self._assumed.get(event)
        if slot is None:  # guarded: read what the guards will look at
            if slot_id is not None:
                slot = store.slot(slot_id)
            else:
                assert record_id is not None
                record = store.record(record_id)
                slot = store.slot(record.slot_id) if isinstance(record, Hold) else None
        decide = self._engine.decide_fast
        for _ in range(self._max_attempts):
            change = decide(event, slot_id, slot, user, self._clock(), self._new_id, context,
                            record_id, kind, record, override)  # type: ignore[arg-type]
            outcome = store.commit(change)
            if isinstance(outcome, Applied):
                return outcome
            # The world differs from what we assumed: decide again on what the store saw.
            slot = outcome.slot
            if change.closes is not None:
                record = outcome.record
        raise SlotConflict(
            f"Slot {slot_id or record_id} kept changing while deciding {event!r}; try again",
            slot_id=slot_id, event=event, record_id=record_id,
        )

    def close(self) -> None:
        """Close the store."""
        self.store.close()
