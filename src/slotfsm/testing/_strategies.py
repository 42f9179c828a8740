"""Hypothesis strategies for slotfsm, in one place (the store contract uses these too)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from .._lifecycle import Lifecycle
from .._manager import MAX_ID_LENGTH
from ..errors import InvalidInput
from ._model import Operation, Race, named_operations

__all__ = [
    "UNKNOWN_RECORD",
    "UNKNOWN_SLOT",
    "bad_values",
    "contexts",
    "events",
    "operation",
    "operations",
    "races",
    "record_refs",
    "slot_names",
    "user_names",
]

#: A slot id that is never added, and a well-formed record id that never exists.
UNKNOWN_SLOT = "nope"
UNKNOWN_RECORD = "r_00000000_unknown"

_RESERVED = frozenset({"slot", "user", "event", "slot_id", "record_id", "override"})


def _count(value: object, what: str, low: int = 1, high: int = 26) -> int:
    if type(value) is not int or not low <= value <= high:
        raise InvalidInput(f"{what} must be an int from {low} to {high}, not {value!r}")
    return value


def _lifecycle(value: object) -> Lifecycle:
    if not isinstance(value, Lifecycle):
        raise InvalidInput(f"lifecycle must be a slotfsm.Lifecycle, not {value!r}")
    return value


def slot_ids(slots: int) -> list[str]:
    """The slot ids the strategies use: ``s0`` .. ``s{slots-1}``."""
    return [f"s{i}" for i in range(slots)]


def user_ids(users: int) -> list[str]:
    """The user names the strategies use: ``u0`` .. ``u{users-1}``."""
    return [f"u{i}" for i in range(users)]


def slot_names(slots: int, *, unknown: bool = True) -> st.SearchStrategy[str]:
    """One of ``slots`` slot ids, or (``unknown``) one that is never added."""
    names = slot_ids(_count(slots, "slots"))
    return st.sampled_from([*names, UNKNOWN_SLOT] if unknown else names)


def user_names(users: int) -> st.SearchStrategy[str]:
    """One of ``users`` user names."""
    return st.sampled_from(user_ids(_count(users, "users")))


def record_refs(*, unknown: bool = True) -> st.SearchStrategy[int | str]:
    """A record reference: ordinal ``n`` (the n-th record opened) or an unknown id."""
    ordinal = st.integers(0, 15)
    return st.one_of(ordinal, st.just(UNKNOWN_RECORD)) if unknown else ordinal


def bad_values() -> st.SearchStrategy[Any]:
    """Values every id and user argument must refuse with InvalidInput."""
    return st.sampled_from(["", "x" * (MAX_ID_LENGTH + 1), "a\x00b", "tab\there", 7.5, None, b"s0"])


def events(lifecycle: Lifecycle, *, unknown: bool = False) -> st.SearchStrategy[str]:
    """One of the lifecycle's events, or (``unknown``) also one it does not know."""
    names = list(_lifecycle(lifecycle).events)
    return st.sampled_from([*names, "no_such_event"] if unknown else names)


def contexts(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[tuple[str, Any], ...]]:
    """Extra guard arguments (``fire(..., **context)``), as sorted ``(name, value)`` pairs.

    Example::

        contexts(battery=st.integers(0, 100))   # guards receive battery=<int>

    Raises:
        InvalidInput: a name the manager reserves, or a value that is not a strategy.
    """
    for name, strategy in fields.items():
        if name in _RESERVED:
            raise InvalidInput(f"context name {name!r} is reserved by SlotManager")
        if not isinstance(strategy, st.SearchStrategy):
            raise InvalidInput(f"contexts({name}=...) needs a Hypothesis strategy, "
                               f"not {strategy!r}")
    keys = sorted(fields)
    return st.fixed_dictionaries({k: fields[k] for k in keys}).map(
        lambda d: tuple((k, d[k]) for k in keys)
    )


def operation(
    lifecycle: Lifecycle,
    *,
    slots: int = 3,
    users: int = 3,
    context: st.SearchStrategy[tuple[tuple[str, Any], ...]] | None = None,
    bad_input: bool = True,
) -> st.SearchStrategy[Operation]:
    """One SlotManager operation: legal, illegal, forbidden, unknown ids or bad input.

    Args:
        lifecycle: The lifecycle the operations are for.
        slots: How many slot ids (``s0`` ..) to draw from, plus one never added.
        users: How many users (``u0`` ..).
        context: Guard arguments for ``fire`` and ``close_record`` (see :func:`contexts`).
        bad_input: Also draw malformed ids, users, events and overrides.
    """
    lc = _lifecycle(lifecycle)
    slot = slot_names(slots)
    user = user_names(users)
    ctx = context if context is not None else st.just(())
    ref = record_refs()
    override = st.booleans()
    shapes: list[st.SearchStrategy[Operation]] = [
        st.builds(Operation, st.just("add_slot"), slot),
        st.builds(Operation, st.just("fire"), slot, event=events(lc, unknown=bad_input),
                  user=user, override=override, context=ctx),
    ]
    if lc.events and any(lc.closes_kind(e) for e in lc.events):
        shapes.append(st.builds(Operation, st.just("close_record"), record=ref,
                                event=events(lc), user=user, override=override, context=ctx))
    for name in named_operations(lc):
        if name in ("book", "start"):
            shapes.append(st.builds(Operation, st.just(name), slot, user=user))
        else:
            shapes.append(st.builds(Operation, st.just(name), record=ref, user=user,
                                    override=override))
    if bad_input:
        shapes.append(bad_operations(lc, slots=slots, users=users))
    return st.one_of(shapes)


def bad_operations(lifecycle: Lifecycle, *, slots: int = 3, users: int = 3
                   ) -> st.SearchStrategy[Operation]:
    """Operations with exactly one malformed argument (all must raise InvalidInput)."""
    lc = _lifecycle(lifecycle)
    slot = slot_names(slots)
    user = user_names(users)
    bad = bad_values()
    event = events(lc)
    return st.one_of(
        st.builds(Operation, st.just("add_slot"), bad),
        st.builds(Operation, st.just("fire"), bad, event=event, user=user),
        st.builds(Operation, st.just("fire"), slot, event=event, user=bad),
        st.builds(Operation, st.just("fire"), slot, event=event, user=user,
                  override=st.sampled_from(["yes", 1, None])),
        st.builds(Operation, st.just("fire"), slot, event=event, user=user,
                  context=st.just((("slot", "s0"),))),
        st.builds(Operation, st.just("close_record"), record=bad, event=event, user=user),
    )


def races(lifecycle: Lifecycle, *, slots: int = 3, users: int = 3) -> st.SearchStrategy[Race]:
    """Two different users firing events on the same slot at the same moment."""
    lc = _lifecycle(lifecycle)
    if _count(users, "users") < 2:
        raise InvalidInput("races need at least 2 users")
    names = user_ids(users)

    @st.composite
    def race(draw: st.DrawFn) -> Race:
        s = draw(slot_names(slots, unknown=False))
        a, b = draw(st.permutations(names))[:2]
        ea, eb = draw(events(lc)), draw(events(lc))
        return Race(Operation("fire", s, event=ea, user=a), Operation("fire", s, event=eb, user=b))

    return race()


def operations(
    lifecycle: Lifecycle,
    *,
    slots: int = 3,
    users: int = 3,
    min_size: int = 0,
    max_size: int = 30,
    add_slots: bool = True,
    include_races: bool = True,
    context: st.SearchStrategy[tuple[tuple[str, Any], ...]] | None = None,
) -> st.SearchStrategy[list[Operation | Race]]:
    """Whole operation sequences: legal, illegal, forbidden, unknown ids, bad input, races.

    Run them with a :class:`~slotfsm.testing.ReferenceModel` beside your system: resolve
    each operation with ``model.resolve(op)`` (ordinal record references become ids),
    then compare your result with ``model.apply(op)``.

    Args:
        lifecycle: The lifecycle.
        slots, users: How many slot ids and users to use.
        min_size, max_size: Bounds on the number of drawn operations.
        add_slots: Start every sequence by adding all slots, so most operations land.
        include_races: Also draw :class:`Race` pairs (needs ``users >= 2``).
        context: Guard arguments (see :func:`contexts`).
    """
    lc = _lifecycle(lifecycle)
    if type(min_size) is not int or type(max_size) is not int or not 0 <= min_size <= max_size:
        raise InvalidInput(f"need 0 <= min_size <= max_size, got {min_size!r}, {max_size!r}")
    one: st.SearchStrategy[Operation | Race] = operation(lc, slots=slots, users=users,
                                                         context=context)
    if include_races and users >= 2:
        one = st.one_of(one, races(lc, slots=slots, users=users))
    body = st.lists(one, min_size=min_size, max_size=max_size)
    if not add_slots:
        return body
    setup: list[Operation | Race] = [Operation("add_slot", s) for s in slot_ids(slots)]
    return body.map(lambda ops: [*setup, *ops])
