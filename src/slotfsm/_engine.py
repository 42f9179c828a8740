"""Deciding: the only module that touches ``transitions``.

One shared, model-less ``transitions.Machine`` per Lifecycle. Each decision runs the
event's trigger on a throwaway probe holding the stored status, so nothing is added to
the machine per slot or per request, and concurrent decisions share nothing mutable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from transitions import Machine

from ._records import Change, Close, Hold, Slot, hold_title, make_hold
from .errors import Forbidden, InvalidInput, NotFound, SlotConflict

if TYPE_CHECKING:
    from ._lifecycle import Lifecycle, Transition


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


#: "Not read yet": the store checks it itself and reports it back if it differs.
UNKNOWN: Final = _Unknown()


class _Probe:
    """The throwaway model a trigger runs on: the stored status and the guards' inputs."""

    __slots__ = ("args", "fired", "refused", "state")

    def __init__(self, state: str, args: tuple[Slot, str | None, str, Mapping[str, Any]]) -> None:
        self.state = state
        self.args = args  # (slot, user, event, context), read only by guards
        self.fired: Transition | None = None
        self.refused: str | None = None


def _condition(guard: Callable[..., bool], name: str) -> Callable[[Any], bool]:
    def check(event_data: Any) -> bool:
        probe: _Probe = event_data.model
        slot, user, event, context = probe.args
        if guard(slot=slot, user=user, event=event, **context):
            return True
        probe.refused = name
        return False

    check.__name__ = name
    return check


def _marker(declared: Transition) -> Callable[[Any], None]:
    def fired(event_data: Any) -> None:
        event_data.model.fired = declared

    return fired


class Engine:
    """Decides changes for one Lifecycle. Pure: it reads nothing and writes nothing."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle
        specs = []
        for t in lifecycle.transitions:
            for src in t.source:
                spec: dict[str, Any] = {
                    "trigger": t.event,
                    "source": src,
                    "dest": t.target,
                    "conditions": [_condition(g, g.name) for g in t.guards],
                }
                # Only alternatives (several guarded transitions for one event and source)
                # need a marker to tell which fired; otherwise the trigger's result says it.
                if len(lifecycle.transitions_for(t.event, src)) > 1:
                    spec["after"] = [_marker(t)]
                specs.append(spec)
        self._machine = Machine(
            model=None,
            states=list(lifecycle.states),
            initial=lifecycle.initial,
            transitions=specs,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=True,
        )
        self._events = self._machine.events
        self._by_key = lifecycle._by_key  # the declaration's own (event, state) index

    def choose(
        self, state: str, event: str, context: Mapping[str, Any]
    ) -> tuple[Transition | None, str | None]:
        """Run ``event`` from ``state`` on a probe.

        ``context`` may hold ``slot`` and ``user``; the rest goes to the guards.

        Returns:
            ``(transition, None)`` when one fires; ``(None, guard_name)`` when a guard
            refused; ``(None, None)`` when no transition leaves ``state`` on ``event``.
        """
        ctx = dict(context)
        slot = ctx.pop("slot", None) or self.lifecycle.slot_for(state)
        return self._choose(state, event, slot, ctx.pop("user", None), ctx)

    def _choose(
        self, state: str, event: str, slot: Slot, user: str | None, context: Mapping[str, Any]
    ) -> tuple[Transition | None, str | None]:
        candidates = self._by_key.get((event, state), ())
        if not candidates:
            return None, None
        probe = _Probe(state, (slot, user, event, context))
        if self._events[event].trigger(probe):
            return (candidates[0] if len(candidates) == 1 else probe.fired), None
        return None, probe.refused

    def decide(
        self,
        event: str,
        *,
        slot_id: str | None,
        slot: Slot | None,
        user: str | None,
        at: float,
        new_id: Callable[[str, str], str],
        context: Mapping[str, Any] = {},
        record_id: str | None = None,
        record_kind: str | None = None,
        record: Hold | _Unknown | None = UNKNOWN,
        override: bool = False,
    ) -> Change:
        """Decide the whole change ``event`` makes, or raise the error that refuses it.

        Args:
            event: A lifecycle event.
            slot_id: The slot, or ``None`` when addressed through ``record_id``.
            slot: The stored slot (``None``: it does not exist), or an assumed one with
                ``version=None`` for an optimistic decision.
            user: Who asks.
            at: Timestamp for records and history.
            new_id: ``new_id(kind, slot_id)`` makes an id for an opened record.
            context: Extra keyword arguments for guards.
            record_id: The record addressed (``cancel_reservation(r.id)``), if any.
            record_kind: The kind ``record_id`` must have.
            record: The stored record the change closes, ``None`` if there is none, or
                ``UNKNOWN`` when it has not been read (the store then checks it).
            override: An operator closes another user's record.

        Raises:
            NotFound, Forbidden, SlotConflict, InvalidInput.
        """
        return self.decide_fast(event, slot_id, slot, user, at, new_id, context, record_id,
                                record_kind, record, override)

    def decide_fast(
        self,
        event: str,
        slot_id: str | None,
        slot: Slot | None,
        user: str | None,
        at: float,
        new_id: Callable[[str, str], str],
        context: Mapping[str, Any],
        record_id: str | None,
        record_kind: str | None,
        record: Hold | _Unknown | None,
        override: bool,
    ) -> Change:
        """:meth:`decide` with positional arguments: the manager's hot path."""
        lifecycle = self.lifecycle
        if record_id is not None and record is not UNKNOWN:
            title = hold_title(record_kind or "record")
            if not isinstance(record, Hold) or record.kind != record_kind:
                raise NotFound(f"{title} {record_id} not found", record_id=record_id)
            slot_id = record.slot_id
            check_holder(record, user, override, title)
        if slot is None:
            raise NotFound(f"Slot {slot_id} not found", slot_id=slot_id, event=event)
        status = slot.status
        shown_id = slot_id if slot_id is not None else slot.id
        transition, refused = self._choose(status, event, slot, user, context)
        if transition is None:
            raise SlotConflict(
                lifecycle.refusal_message(event, status, shown_id, user, refused),
                slot_id=shown_id, event=event, status=status, guard=refused, user=user,
            )
        closes = None
        if transition.closes is not None:
            assert transition.outcome is not None
            if record_id is not None and record_kind != transition.closes:
                raise InvalidInput(
                    f"{event!r} closes a {transition.closes}, not a {record_kind}", event=event
                )
            target_id = record_id
            if record_id is None and isinstance(record, Hold):
                check_holder(record, user, override, hold_title(transition.closes))
                target_id = record.id
            closes = Close(
                transition.closes, transition.outcome, target_id, None if override else user
            )
        elif override:
            raise override_error(event)
        opens = None
        if transition.opens is not None:
            assert slot_id is not None
            if user is None:
                raise InvalidInput(f"{event!r} opens a {transition.opens} and needs a user")
            opens = make_hold(
                transition.opens, new_id(transition.opens, slot_id), slot_id, user, created_at=at
            )
        return Change(event, slot_id, status, slot.version, transition.target, user, at, opens,
                      closes, override)


def override_error(event: str) -> InvalidInput:
    """The error for ``override=True`` on an event that closes no record."""
    return InvalidInput(
        f"override applies only to events that close a record; {event!r} closes none",
        event=event,
    )


def check_holder(record: Hold, user: str | None, override: bool, title: str) -> None:
    """Refuse closing ``record`` unless it is active and held by ``user`` (or overridden).

    Raises:
        SlotConflict: the record is no longer active.
        Forbidden: another user holds it and there is no override.
    """
    if not record.active:
        raise SlotConflict(
            f"{title} {record.id} is not active (current status: {record.status})",
            slot_id=record.slot_id,
            record_id=record.id,
            status=record.status,
        )
    if record.user != user and not override:
        raise Forbidden(
            f"{title} {record.id} belongs to another user",
            slot_id=record.slot_id,
            record_id=record.id,
            user=user,
        )
