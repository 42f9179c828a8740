"""Shortest event sequences that cover every transition and every refusal of a lifecycle."""

from __future__ import annotations

from collections import deque

import attrs

from .._lifecycle import Lifecycle
from ..errors import InvalidInput, SlotConflict, SlotFSMError

__all__ = ["TransitionPath", "transition_paths"]


@attrs.frozen
class TransitionPath:
    """One example for a host's own tests: fire ``events`` on a new slot, expect the end.

    Attributes:
        events: The events, fired in order on a freshly added slot.
        status: The slot's status after the last event (the status it stays in when the
            last event is refused).
        error: ``None`` when every event is accepted; else the error the LAST event
            raises (:class:`~slotfsm.SlotConflict`).
        template: For a refusal, the message with ``{slot_id}`` and ``{user}`` left
            open; use :meth:`message`.
        guards: Guard names along the path (a host must satisfy them to follow it).
        covers: ``(event, source)`` of the transition or refusal this path is for.
    """

    events: tuple[str, ...]
    status: str
    error: type[SlotFSMError] | None = None
    template: str | None = None
    guards: tuple[str, ...] = ()
    covers: tuple[str, str] | None = None

    def message(self, slot_id: str, user: str = "") -> str | None:
        """The refusal message for a slot ``slot_id`` (``None`` for an accepted path)."""
        if self.template is None:
            return None
        return self.template.replace("{slot_id}", slot_id).replace("{user}", user)

    def __str__(self) -> str:
        path = " -> ".join(self.events) or "(add_slot only)"
        end = f"refused: {self.error.__name__}" if self.error else f"ends {self.status}"
        return f"{path}: {end}"


def transition_paths(lifecycle: Lifecycle) -> list[TransitionPath]:
    """Shortest paths from the initial state covering every transition and every refusal.

    Every declared ``(event, source)`` pair gets an accepted path ending in it (paths that
    are a prefix of another accepted path are dropped); every state gets, for each event
    that has no transition from it, a path ending in that refused event. Guards are
    assumed to pass; paths through guarded transitions list the guard names.

    Example::

        >>> from slotfsm import SLOT_LIFECYCLE
        >>> for p in transition_paths(SLOT_LIFECYCLE)[:3]:
        ...     print(p)
        book -> cancel: ends available
        book -> complete: ends available
        start -> stop: ends available
        >>> refusal = transition_paths(SLOT_LIFECYCLE)[3]
        >>> print(refusal)
        cancel: refused: SlotConflict
        >>> refusal.message("A1")
        'Slot A1 has no active reservation to cancel (current status: available)'
    """
    if not isinstance(lifecycle, Lifecycle):
        raise InvalidInput(f"lifecycle must be a slotfsm.Lifecycle, not {lifecycle!r}")
    # BFS over states: the shortest event path (and its guards) to each state.
    to: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {lifecycle.initial: ((), ())}
    queue = deque([lifecycle.initial])
    while queue:
        state = queue.popleft()
        events, guards = to[state]
        for event in lifecycle.allowed_events(state):
            for t in lifecycle.transitions_for(event, state):
                if t.target not in to:
                    to[t.target] = ((*events, event), (*guards, *(g.name for g in t.guards)))
                    queue.append(t.target)
    accepted: list[TransitionPath] = []
    for t in lifecycle.transitions:
        for src in t.source:
            events, guards = to[src]
            accepted.append(TransitionPath(
                (*events, t.event), t.target, guards=(*guards, *(g.name for g in t.guards)),
                covers=(t.event, src),
            ))
    accepted.sort(key=lambda p: len(p.events))
    kept: list[TransitionPath] = []
    for p in reversed(accepted):
        if not any(k.events[: len(p.events)] == p.events for k in kept):
            kept.append(p)
    kept.sort(key=lambda p: (len(p.events), _order(lifecycle, p)))
    refused: list[TransitionPath] = []
    for state in lifecycle.states:
        events, guards = to[state]
        for event in lifecycle.events:
            if event in lifecycle.allowed_events(state):
                continue
            refused.append(TransitionPath(
                (*events, event), state, SlotConflict,
                lifecycle.refusal_message(event, state, "{slot_id}", "{user}"),
                guards, (event, state),
            ))
    return kept + refused


def _order(lifecycle: Lifecycle, path: TransitionPath) -> int:
    assert path.covers is not None
    for i, t in enumerate(lifecycle.transitions):
        if t.event == path.covers[0] and path.covers[1] in t.source:
            return i
    return len(lifecycle.transitions)
