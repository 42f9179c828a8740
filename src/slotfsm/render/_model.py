"""One diagram model, extracted once from a Lifecycle; every renderer reads only this."""

from __future__ import annotations

import attrs

from .._lifecycle import Lifecycle
from .._records import ACTIVE, hold_title
from ..errors import InvalidInput

__all__ = ["Diagram", "Edge", "diagram", "record_diagram", "record_diagrams"]


@attrs.frozen
class Edge:
    """One arrow: ``event`` moves ``source`` to ``target`` (guards by name, record effect)."""

    source: str
    target: str
    event: str
    guards: tuple[str, ...] = ()
    opens: str | None = None
    closes: str | None = None
    outcome: str | None = None

    @property
    def label(self) -> str:
        """``event [guard, ...]``: the event and its guards, as arrows are labelled."""
        return f"{self.event} [{', '.join(self.guards)}]" if self.guards else self.event

    @property
    def effect(self) -> str:
        """The record effect in words ("opens reservation", "closes session -> completed")."""
        parts = []
        if self.closes is not None:
            parts.append(f"closes {self.closes} -> {self.outcome}")
        if self.opens is not None:
            parts.append(f"opens {self.opens}")
        return "; ".join(parts)


@attrs.frozen
class Diagram:
    """A state machine to draw: states, the initial one, edges, and the final states.

    ``entry`` labels the arrow into the initial state (the events that create the thing:
    ``add_slot`` for slots, ``book`` for reservations).
    """

    name: str
    title: str
    states: tuple[str, ...]
    initial: str
    edges: tuple[Edge, ...]
    entry: tuple[str, ...] = ()

    @property
    def finals(self) -> tuple[str, ...]:
        """States with no outgoing edge."""
        sources = {e.source for e in self.edges}
        return tuple(s for s in self.states if s not in sources)


def diagram(lifecycle: Lifecycle) -> Diagram:
    """The diagram of a slot lifecycle: one edge per (transition, source state).

    Example::

        >>> from slotfsm import SLOT_LIFECYCLE
        >>> d = diagram(SLOT_LIFECYCLE)
        >>> d.edges[0].label, d.edges[0].effect
        ('book', 'opens reservation')
    """
    if not isinstance(lifecycle, Lifecycle):
        raise InvalidInput(f"lifecycle must be a slotfsm.Lifecycle, not {lifecycle!r}")
    edges = tuple(
        Edge(src, t.target, t.event, tuple(g.name for g in t.guards), t.opens, t.closes,
             t.outcome)
        for t in lifecycle.transitions
        for src in t.source
    )
    return Diagram(lifecycle.name, f"{lifecycle.name.replace('_', ' ').capitalize()} lifecycle",
                   lifecycle.states, lifecycle.initial, edges, ("add_slot",))


def record_kinds(lifecycle: Lifecycle) -> tuple[str, ...]:
    """The record kinds the lifecycle opens, in declaration order."""
    kinds: list[str] = []
    for t in lifecycle.transitions:
        for kind in (t.opens, t.closes):
            if kind is not None and kind not in kinds:
                kinds.append(kind)
    return tuple(kinds)


def record_diagram(lifecycle: Lifecycle, kind: str) -> Diagram:
    """The lifecycle of one record kind, derived from the slot lifecycle's opens/closes.

    A record starts ``active`` (opened by the events that open it) and each closing
    event moves it to that transition's outcome.

    Example::

        >>> from slotfsm import SLOT_LIFECYCLE
        >>> d = record_diagram(SLOT_LIFECYCLE, "reservation")
        >>> d.states, d.entry
        (('active', 'cancelled', 'completed'), ('book',))
    """
    if kind not in record_kinds(lifecycle):
        raise InvalidInput(
            f"lifecycle {lifecycle.name!r} has no record kind {kind!r}; "
            f"kinds: {list(record_kinds(lifecycle))}"
        )
    opened_by: list[str] = []
    states = [ACTIVE]
    edges: list[Edge] = []
    for t in lifecycle.transitions:
        if t.opens == kind and t.event not in opened_by:
            opened_by.append(t.event)
        if t.closes == kind:
            assert t.outcome is not None
            if t.outcome not in states:
                states.append(t.outcome)
            guards = tuple(g.name for g in t.guards)
            edge = Edge(ACTIVE, t.outcome, t.event, guards)
            if edge not in edges:
                edges.append(edge)
    return Diagram(kind, f"{hold_title(kind)} lifecycle", tuple(states), ACTIVE, tuple(edges),
                   tuple(opened_by))


def record_diagrams(lifecycle: Lifecycle) -> list[Diagram]:
    """The diagram of every record kind the lifecycle opens."""
    return [record_diagram(lifecycle, k) for k in record_kinds(lifecycle)]
