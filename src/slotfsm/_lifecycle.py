"""Declaring a lifecycle: states, transitions, guards, and the checks run at declaration."""

from __future__ import annotations

import string
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .errors import InvalidDefinition

if TYPE_CHECKING:
    from ._engine import Engine
    from ._records import Slot

__all__ = ["CREATE_EVENT", "Guard", "Lifecycle", "Transition"]

#: The event name of the history row ``add_slot`` writes; no transition may use it.
CREATE_EVENT = "create"

#: Placeholders a refusal message may use.
MESSAGE_FIELDS = ("slot_id", "status", "event", "user")


@attrs.frozen(repr=False)
class Guard:
    """A named predicate that must return ``True`` for a transition to fire.

    It is called with keyword arguments: ``slot`` (the current :class:`Slot`), ``user``,
    ``event`` and whatever the caller passed to ``SlotManager.fire``. It must return a
    real ``bool``. Plain named functions are wrapped automatically; give a lambda a name
    with ``Guard("name", fn)``.

    Example::

        >>> def is_staff(*, user, **_):
        ...     return user.startswith("staff-")
        >>> Guard.of(is_staff)
        is_staff
    """

    name: str
    fn: Callable[..., Any] = attrs.field(eq=False)

    def __call__(self, **kwargs: Any) -> bool:
        result = self.fn(**kwargs)
        if result is True or result is False:
            return result
        raise InvalidDefinition(
            f"guard {self.name!r} returned {result!r} ({type(result).__name__}), not a bool",
            guard=self.name,
        )

    def __repr__(self) -> str:
        return self.name

    @classmethod
    def of(cls, obj: Guard | Callable[..., Any]) -> Guard:
        """Wrap a named callable (or return a Guard unchanged)."""
        if isinstance(obj, Guard):
            return obj
        if not callable(obj):
            raise InvalidDefinition(f"guard {obj!r} is not callable")
        name = getattr(obj, "__name__", None)
        if not isinstance(name, str) or not name.isidentifier():
            raise InvalidDefinition(
                f"guard {obj!r} has no usable name; wrap it as slotfsm.Guard('name', fn)"
            )
        return cls(name, obj)


def _states(value: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    try:
        return tuple(value)
    except TypeError:
        raise InvalidDefinition(
            f"source {value!r} is neither a state nor a list of states"
        ) from None


def _guards(value: Iterable[Guard | Callable[..., Any]] | None) -> tuple[Guard, ...]:
    if value is None:
        return ()
    if callable(value) or isinstance(value, Guard):
        return (Guard.of(value),)
    return tuple(Guard.of(g) for g in value)


@attrs.frozen
class Transition:
    """One declared transition: ``event`` moves a slot from any of ``source`` to ``target``.

    Args:
        event: The event name (``"book"``).
        source: A state or a list of states the event may fire from.
        target: The state after the event.
        guards: Named callables that must all return ``True`` (see :class:`Guard`).
        opens: Kind of the record the transition opens for the user ("reservation").
        closes: Kind of the record the transition closes ("reservation").
        outcome: The closed record's final status ("cancelled"); required with ``closes``.
    """

    event: str
    source: tuple[str, ...] = attrs.field(converter=_states)
    target: str
    guards: tuple[Guard, ...] = attrs.field(default=(), converter=_guards)
    opens: str | None = None
    closes: str | None = None
    outcome: str | None = None


def _state_names(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise InvalidDefinition(f"states must be a list of names, not the string {value!r}")
    return tuple(value)


def _transition_list(value: Iterable[Transition]) -> tuple[Transition, ...]:
    return tuple(value)


def _message_map(value: Mapping[Any, str]) -> dict[Any, str]:
    return dict(value)


def _message_key(key: object) -> str:
    return repr(key)


@attrs.frozen
class Lifecycle:
    """A declared finite-state machine for slots, validated when it is declared.

    Args:
        states: The slot statuses.
        initial: The status of a new slot.
        transitions: The allowed transitions.
        messages: Refusal messages: ``{event: template}`` or ``{(event, state): template}``;
            templates may use ``{slot_id}``, ``{status}``, ``{event}`` and ``{user}``.
        name: A name for docs and diagrams.

    Raises:
        InvalidDefinition: naming the offending part (unknown or unreachable states, a
            source or target that is not a state, two unguarded transitions for the same
            event and source, records opened or closed inconsistently, bad messages).

    Example::

        >>> from slotfsm import Lifecycle, Transition
        >>> locker = Lifecycle(
        ...     states=["free", "rented"],
        ...     initial="free",
        ...     transitions=[
        ...         Transition("rent", "free", "rented", opens="rental"),
        ...         Transition("return", "rented", "free", closes="rental", outcome="returned"),
        ...     ],
        ... )
        >>> locker.allowed_events("free")
        ('rent',)
    """

    states: tuple[str, ...] = attrs.field(converter=_state_names)
    initial: str
    transitions: tuple[Transition, ...] = attrs.field(converter=_transition_list)
    messages: Mapping[Any, str] = attrs.field(factory=dict, converter=_message_map, repr=False)
    name: str = "lifecycle"

    # Derived once, at declaration.
    events: tuple[str, ...] = attrs.field(init=False, repr=False, eq=False)
    _by_key: dict[tuple[str, str], tuple[Transition, ...]] = attrs.field(
        init=False, repr=False, eq=False
    )
    _allowed: dict[str, tuple[str, ...]] = attrs.field(init=False, repr=False, eq=False)
    _holds: dict[str, str | None] = attrs.field(init=False, repr=False, eq=False)
    _optimistic: dict[str, str | None] = attrs.field(init=False, repr=False, eq=False)
    _opens: dict[str, str | None] = attrs.field(init=False, repr=False, eq=False)
    _closes: dict[str, str | None] = attrs.field(init=False, repr=False, eq=False)
    _closing: frozenset[str] = attrs.field(init=False, repr=False, eq=False)
    _engine: list[Engine] = attrs.field(init=False, repr=False, eq=False)
    _lock: threading.Lock = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        set_ = object.__setattr__
        self._check_states()
        by_key: dict[tuple[str, str], list[Transition]] = {}
        events: list[str] = []
        for index, t in enumerate(self.transitions):
            self._check_transition(index, t)
            if t.event not in events:
                events.append(t.event)
            for src in t.source:
                earlier = by_key.setdefault((t.event, src), [])
                for prev in earlier:
                    if not prev.guards:
                        what = "another unguarded transition" if not t.guards else "a transition"
                        raise InvalidDefinition(
                            f"event {t.event!r} from state {src!r}: {what} (to {t.target!r}) "
                            f"follows an unguarded one (to {prev.target!r}), which always "
                            "wins; guard the first or remove one",
                            event=t.event,
                            status=src,
                        )
                earlier.append(t)
        set_(self, "events", tuple(events))
        set_(self, "_by_key", {k: tuple(v) for k, v in by_key.items()})
        set_(self, "_allowed", {
            s: tuple(e for e in events if (e, s) in by_key) for s in self.states
        })
        self._check_reachable()
        set_(self, "_holds", self._derive_holds())
        set_(self, "_optimistic", {e: self._optimistic_source(e) for e in events})
        set_(self, "_opens", {e: self._only_kind(e, "opens") for e in events})
        set_(self, "_closes", {e: self._only_kind(e, "closes") for e in events})
        set_(self, "_closing", frozenset(
            t.event for t in self.transitions if t.closes is not None
        ))
        self._check_messages()
        set_(self, "_engine", [])
        set_(self, "_lock", threading.Lock())

    # -- checks --------------------------------------------------------------------------

    def _check_states(self) -> None:
        if not self.states:
            raise InvalidDefinition("a lifecycle needs at least one state")
        seen: set[str] = set()
        for s in self.states:
            if not isinstance(s, str) or not s:
                raise InvalidDefinition(f"state {s!r} is not a non-empty string")
            if s in seen:
                raise InvalidDefinition(f"state {s!r} is declared twice", status=s)
            seen.add(s)
        if self.initial not in seen:
            raise InvalidDefinition(
                f"initial state {self.initial!r} is not one of the states {list(self.states)}"
            )
        if not isinstance(self.name, str) or not self.name:
            raise InvalidDefinition(f"lifecycle name {self.name!r} is not a non-empty string")

    def _check_transition(self, index: int, t: Transition) -> None:
        if not isinstance(t, Transition):
            raise InvalidDefinition(f"transitions[{index}] is {t!r}, not a slotfsm.Transition")
        where = f"transition {index} ({t.event!r})"
        if not isinstance(t.event, str) or not t.event or not t.event.isidentifier():
            raise InvalidDefinition(f"transitions[{index}]: event {t.event!r} is not an identifier")
        if t.event == CREATE_EVENT:
            raise InvalidDefinition(
                f"{where}: the event name {CREATE_EVENT!r} is reserved for add_slot's history row",
                event=t.event,
            )
        if not t.source:
            raise InvalidDefinition(f"{where} has no source state", event=t.event)
        for src in t.source:
            if src not in self.states:
                raise InvalidDefinition(
                    f"{where} has source {src!r}, which is not a state; "
                    f"states are {list(self.states)}",
                    event=t.event,
                    status=src,
                )
        if len(set(t.source)) != len(t.source):
            raise InvalidDefinition(f"{where} lists a source state twice", event=t.event)
        if t.target not in self.states:
            raise InvalidDefinition(
                f"{where} has target {t.target!r}, which is not a state; "
                f"states are {list(self.states)}",
                event=t.event,
                status=t.target,
            )
        for kind in (t.opens, t.closes):
            if kind is not None and (not isinstance(kind, str) or not kind.isidentifier()):
                raise InvalidDefinition(f"{where}: record kind {kind!r} is not an identifier")
        if (t.closes is None) != (t.outcome is None):
            raise InvalidDefinition(
                f"{where}: 'closes' and 'outcome' go together (closes={t.closes!r}, "
                f"outcome={t.outcome!r})",
                event=t.event,
            )
        if t.outcome is not None and (not isinstance(t.outcome, str) or not t.outcome
                                      or t.outcome == "active"):
            raise InvalidDefinition(
                f"{where}: outcome {t.outcome!r} must be a final status other than 'active'",
                event=t.event,
            )
        names = [g.name for g in t.guards]
        if len(set(names)) != len(names):
            raise InvalidDefinition(f"{where} lists guard names twice: {names}", event=t.event)

    def _check_reachable(self) -> None:
        seen = {self.initial}
        frontier = [self.initial]
        while frontier:
            state = frontier.pop()
            for event in self._allowed[state]:
                for t in self._by_key[(event, state)]:
                    if t.target not in seen:
                        seen.add(t.target)
                        frontier.append(t.target)
        for s in self.states:
            if s not in seen:
                raise InvalidDefinition(
                    f"state {s!r} is unreachable from the initial state {self.initial!r}",
                    status=s,
                )

    def _derive_holds(self) -> dict[str, str | None]:
        # Which record kind is active while a slot is in each state. A state holds at most
        # one kind, and every path into it must agree: this is what lets the store keep
        # "status agrees with its active records" as an invariant.
        holds: dict[str, str | None] = {self.initial: None}
        frontier = [self.initial]
        while frontier:
            state = frontier.pop()
            held = holds[state]
            for event in self._allowed[state]:
                for t in self._by_key[(event, state)]:
                    after = held
                    if t.closes is not None:
                        if held != t.closes:
                            raise InvalidDefinition(
                                f"transition {t.event!r} from {state!r} closes a {t.closes!r}, "
                                f"but a slot in {state!r} holds "
                                f"{'no record' if held is None else repr(held)}",
                                event=t.event,
                                status=state,
                            )
                        after = None
                    if t.opens is not None:
                        if after is not None:
                            raise InvalidDefinition(
                                f"transition {t.event!r} from {state!r} opens a {t.opens!r} "
                                f"while the slot still holds a {after!r}; close it first",
                                event=t.event,
                                status=state,
                            )
                        after = t.opens
                    if t.target in holds:
                        if holds[t.target] != after:
                            raise InvalidDefinition(
                                f"state {t.target!r} is entered holding {after!r} by "
                                f"{t.event!r} from {state!r}, but holding "
                                f"{holds[t.target]!r} on another path",
                                event=t.event,
                                status=t.target,
                            )
                    else:
                        holds[t.target] = after
                        frontier.append(t.target)
        return holds

    def _optimistic_source(self, event: str) -> str | None:
        candidates = [t for t in self.transitions if t.event == event]
        if any(t.guards for t in candidates):
            return None
        return candidates[0].source[0]

    def _only_kind(self, event: str, which: str) -> str | None:
        kinds = {getattr(t, which) for t in self.transitions if t.event == event}
        return kinds.pop() if len(kinds) == 1 else None

    def _check_messages(self) -> None:
        formatter = string.Formatter()
        for key, template in self.messages.items():
            if isinstance(key, tuple):
                if len(key) != 2 or key[0] not in self.events or key[1] not in self.states:
                    raise InvalidDefinition(
                        f"message key {_message_key(key)} is not (known event, known state)"
                    )
            elif key not in self.events:
                raise InvalidDefinition(f"message key {key!r} is not a known event")
            if not isinstance(template, str):
                raise InvalidDefinition(f"message for {_message_key(key)} is not a string")
            try:
                fields = [f for _, f, _, _ in formatter.parse(template) if f is not None]
            except ValueError as exc:
                raise InvalidDefinition(
                    f"message for {_message_key(key)} is not a valid template: {exc}"
                ) from None
            for f in fields:
                if f not in MESSAGE_FIELDS:
                    raise InvalidDefinition(
                        f"message for {_message_key(key)} uses {{{f}}}; "
                        f"allowed are {', '.join('{' + n + '}' for n in MESSAGE_FIELDS)}"
                    )

    # -- queries -------------------------------------------------------------------------

    def allowed_events(self, state: str) -> tuple[str, ...]:
        """The events that have a transition from ``state`` (guards not evaluated)."""
        try:
            return self._allowed[state]
        except (KeyError, TypeError):
            from .errors import InvalidInput

            raise InvalidInput(f"Unknown status {state!r}; known: {list(self.states)}") from None

    def transitions_for(self, event: str, state: str) -> tuple[Transition, ...]:
        """The declared transitions for ``event`` from ``state``, in declaration order."""
        return self._by_key.get((event, state), ())

    def hold_of(self, state: str) -> str | None:
        """The record kind a slot in ``state`` holds active (``None``: no record)."""
        return self._holds[state]

    def optimistic_source(self, event: str) -> str | None:
        """The status to assume for ``event`` before reading the slot, or ``None``.

        An event whose transitions are all unguarded depends on nothing but the status,
        so a manager may decide it on an assumed status and let the store's
        compare-and-set check the assumption in the same round trip.
        """
        return self._optimistic.get(event)

    def closes_any(self, event: str) -> bool:
        """Whether some transition of ``event`` closes a record (so override may apply)."""
        return event in self._closing

    def opens_kind(self, event: str) -> str | None:
        """The record kind every transition of ``event`` opens, or ``None``."""
        return self._opens.get(event)

    def closes_kind(self, event: str) -> str | None:
        """The record kind every transition of ``event`` closes, or ``None``."""
        return self._closes.get(event)

    def can(self, state: str, event: str, **context: Any) -> bool:
        """Whether ``event`` would fire from ``state``, evaluating guards with ``context``.

        Guards get ``slot`` from ``context`` if given, else a Slot with that status and
        an empty id, and ``user`` (default ``None``).
        """
        self.allowed_events(state)  # validates state
        if event not in self.events:
            return False
        return self.engine.choose(state, event, context)[0] is not None

    def refusal_message(
        self, event: str, state: str, slot_id: str, user: str | None, guard: str | None = None
    ) -> str:
        """The conflict message for ``event`` refused in ``state`` (declared or generic),
        or, when ``guard`` is given, refused by that guard."""
        if guard is not None:
            return f"Slot {slot_id}: guard {guard!r} refused {event!r} (current status: {state})"
        template = self.messages.get((event, state)) or self.messages.get(event)
        if template is None:
            return f"Event {event!r} is not allowed for slot {slot_id} (current status: {state})"
        return template.format(slot_id=slot_id, status=state, event=event, user=user)

    @property
    def engine(self) -> Engine:
        """The deciding engine (one shared transitions machine), built on first use."""
        if not self._engine:
            with self._lock:
                if not self._engine:
                    from ._engine import Engine

                    self._engine.append(Engine(self))
        return self._engine[0]

    def slot_for(self, state: str) -> Slot:
        """A placeholder Slot in ``state`` for guard evaluation outside a store."""
        from ._records import Slot

        return Slot("", state, None)
