"""``slotfsm check``: an exhaustive, bounded model checker of the whole system.

Breadth-first over the states of the reference model (:mod:`slotfsm.testing._model`):
from an empty world, every operation (adding each slot; every event on every slot by
every user, with and without override; closing every active record and the latest
closed one by every user, with and without override; an unknown record id) is applied,
refused ones included. After each operation the invariants
(:func:`slotfsm.testing.check_invariants`) must hold and a refused operation must have
changed nothing. States are deduplicated on what decides the future (each slot's status
and active records' kinds and holders), and, for lifecycles without guards, up to
renaming slots and users (symmetry reduction). The first violation found is reported
with its trace, which is a shortest one, because the search is breadth-first.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Iterator

import attrs

from ._lifecycle import Lifecycle
from .errors import InvalidInput
from .testing._invariants import check_invariants
from .testing._model import Operation, ReferenceModel

__all__ = ["CheckReport", "Violation", "check", "check_bounds", "estimate_states"]

MAX_SLOTS = 6
MAX_USERS = 6
MAX_DEPTH = 64
MAX_ESTIMATE = 5_000_000

Progress = Callable[[int, int, float], None]
"""``progress(depth, states, states_per_second)``, called about once a second."""


@attrs.frozen
class Violation:
    """A broken invariant: the shortest trace that reaches it and what is wrong."""

    trace: tuple[Operation, ...]
    problems: tuple[str, ...]

    def __str__(self) -> str:
        steps = "\n".join(f"  {i}. {op!r}" for i, op in enumerate(self.trace, 1))
        return f"trace ({len(self.trace)} steps):\n{steps}\nbroken:\n  " + "\n  ".join(
            self.problems
        )


@attrs.frozen
class CheckReport:
    """What :func:`check` explored and found.

    Attributes:
        lifecycle: The lifecycle's name.
        slots, users, depth: The bounds.
        states: Distinct (canonical) states reached.
        operations: Operations applied (edges explored, refused ones included).
        depth_reached: The deepest level expanded.
        exhaustive: Every reachable state was found before the depth bound.
        seconds: Wall time.
        fired: ``(event, source) -> count`` of each declared transition fired.
        never_enabled: Declared ``(event, source)`` pairs that never fired.
        unreached: Lifecycle states no slot ever reached.
        dead_ends: Lifecycle states with no outgoing transition.
        violation: The first broken invariant, or ``None``.
    """

    lifecycle: str
    slots: int
    users: int
    depth: int
    states: int
    operations: int
    depth_reached: int
    exhaustive: bool
    seconds: float
    fired: dict[tuple[str, str], int]
    never_enabled: tuple[tuple[str, str], ...]
    unreached: tuple[str, ...]
    dead_ends: tuple[str, ...]
    violation: Violation | None = None

    @property
    def ok(self) -> bool:
        """True when no invariant broke."""
        return self.violation is None

    def summary(self) -> str:
        """A human-readable report, several lines."""
        rate = self.states / self.seconds if self.seconds > 0 else float("inf")
        if self.violation is not None:
            how = "stopped at the first violation"
        elif self.exhaustive:
            how = "all reachable states"
        else:
            how = f"bounded at depth {self.depth}"
        lines = [
            f"lifecycle {self.lifecycle!r}: {self.slots} slot(s), {self.users} user(s), "
            f"depth {self.depth}",
            f"explored {self.states} states and {self.operations} operations "
            f"({how}; deepest level {self.depth_reached}) in {self.seconds:.2f}s "
            f"({rate:,.0f} states/s)",
            f"transitions fired: {len(self.fired)} of "
            f"{len(self.fired) + len(self.never_enabled)}",
        ]
        for event, source in self.never_enabled:
            lines.append(f"  never enabled: {event!r} from {source!r}")
        for state in self.unreached:
            lines.append(f"  never reached: state {state!r}")
        for state in self.dead_ends:
            lines.append(f"  dead end: state {state!r} has no outgoing transition")
        if self.violation is None:
            lines.append("invariants hold in every explored state")
        else:
            lines.append(f"INVARIANT BROKEN after a {self.violation!s}")
        return "\n".join(lines)


def estimate_states(lifecycle: Lifecycle, slots: int, users: int) -> int:
    """An upper bound of the canonical states: per slot, absent or a status and holder."""
    per_slot = 1 + sum(users if lifecycle.hold_of(s) else 1 for s in lifecycle.states)
    return int(per_slot**slots)


def check_bounds(lifecycle: Lifecycle, slots: object, users: object, depth: object) -> None:
    """Refuse bounds that would explode, with one clear line.

    Raises:
        InvalidInput: naming the bound and its limit.
    """
    for name, value, high in (("slots", slots, MAX_SLOTS), ("users", users, MAX_USERS),
                              ("depth", depth, MAX_DEPTH)):
        if type(value) is not int or not 1 <= value <= high:
            raise InvalidInput(f"--{name} must be an integer from 1 to {high}, not {value!r}")
    assert isinstance(slots, int) and isinstance(users, int)
    estimate = estimate_states(lifecycle, slots, users)
    if estimate > MAX_ESTIMATE:
        raise InvalidInput(
            f"--slots {slots} --users {users} could reach ~{estimate:,} states of "
            f"{lifecycle.name!r} (limit {MAX_ESTIMATE:,}); lower --slots or --users"
        )


def _key(model: ReferenceModel, slot_ids: list[str], users: list[str],
         symmetric: bool) -> tuple[object, ...]:
    rows: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    for sid in slot_ids:
        slot = model.slots.get(sid)
        if slot is None:
            rows.append(("", ()))
            continue
        rows.append((slot.status, tuple(sorted((r.kind, r.user) for r in model.active(sid)))))
    if not symmetric:
        return tuple(rows)
    best: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] | None = None
    for perm in itertools.permutations(range(len(users))):
        rename = {u: users[i] for u, i in zip(users, perm, strict=True)}
        candidate = tuple(sorted(
            (status, tuple(sorted((k, rename.get(u, u)) for k, u in held)))
            for status, held in rows
        ))
        if best is None or candidate < best:
            best = candidate
    assert best is not None
    return best


def _operations(model: ReferenceModel, slot_ids: list[str],
                users: list[str]) -> Iterator[Operation]:
    lc = model.lifecycle
    closing_events = [e for e in lc.events if lc.closes_kind(e)]
    for sid in slot_ids:
        yield Operation("add_slot", sid)
    for sid in slot_ids:
        for event in lc.events:
            for user in users:
                yield Operation("fire", sid, event=event, user=user)
                yield Operation("fire", sid, event=event, user=user, override=True)
    targets: list[str] = []
    latest_closed: dict[tuple[str, str], str] = {}
    for r in model.records.values():
        if r.active:
            targets.append(r.id)
        else:
            latest_closed[(r.slot_id, r.kind)] = r.id
    targets.extend(latest_closed.values())
    targets.append("r_00000000_unknown")
    for rid in targets:
        for event in closing_events:
            for user in users:
                yield Operation("close_record", record=rid, event=event, user=user)
                yield Operation("close_record", record=rid, event=event, user=user,
                                override=True)


def check(
    lifecycle: Lifecycle,
    *,
    slots: int = 2,
    users: int = 2,
    depth: int = 8,
    model: Callable[[Lifecycle], ReferenceModel] = ReferenceModel,
    symmetry: bool = True,
    progress: Progress | None = None,
    max_states: int = MAX_ESTIMATE,
) -> CheckReport:
    """Explore every state of ``slots`` slots and ``users`` users up to ``depth`` operations.

    Args:
        lifecycle: The lifecycle to check.
        slots, users, depth: The bounds (see :func:`check_bounds`).
        model: Builds the system to explore; the reference model by default (a test can
            pass a deliberately broken one).
        symmetry: Deduplicate states up to renaming slots and users (ignored when the
            lifecycle has guards, which may look at ids).
        progress: Called about once a second with depth, states and rate.
        max_states: Stop (not exhaustive) after this many states.

    Returns:
        The :class:`CheckReport`; ``report.violation`` holds a shortest failing trace.

    Example::

        >>> from slotfsm import SLOT_LIFECYCLE
        >>> report = check(SLOT_LIFECYCLE, slots=1, users=1, depth=4)
        >>> report.ok, report.states, report.never_enabled
        (True, 4, ())
    """
    if not isinstance(lifecycle, Lifecycle):
        raise InvalidInput(f"lifecycle must be a slotfsm.Lifecycle, not {lifecycle!r}")
    check_bounds(lifecycle, slots, users, depth)
    started = time.monotonic()
    slot_ids = [f"s{i}" for i in range(slots)]
    user_ids = [f"u{i}" for i in range(users)]
    symmetric = symmetry and not any(t.guards for t in lifecycle.transitions)
    declared = [(t.event, src) for t in lifecycle.transitions for src in t.source]
    declared_targets: dict[tuple[str, str], set[str]] = {}
    for t in lifecycle.transitions:
        for src in t.source:
            declared_targets.setdefault((t.event, src), set()).add(t.target)
    fired: dict[tuple[str, str], int] = {}
    reached: set[str] = set()

    root = model(lifecycle)
    seen = {_key(root, slot_ids, user_ids, symmetric)}
    frontier: deque[tuple[ReferenceModel, tuple[Operation, ...]]] = deque([(root, ())])
    applied = 0
    level = 0
    violation: Violation | None = None
    last_report = started
    exhaustive = False

    def finish() -> CheckReport:
        return CheckReport(
            lifecycle=lifecycle.name, slots=slots, users=users, depth=depth,
            states=len(seen), operations=applied, depth_reached=level,
            exhaustive=exhaustive, seconds=time.monotonic() - started,
            fired=fired,
            never_enabled=tuple(p for p in declared if p not in fired),
            unreached=tuple(s for s in lifecycle.states if s not in reached),
            dead_ends=tuple(s for s in lifecycle.states if not lifecycle.allowed_events(s)),
            violation=violation,
        )

    while frontier:
        state, trace = frontier.popleft()
        if len(trace) >= depth:
            frontier.appendleft((state, trace))
            break
        level = len(trace) + 1
        before = _key(state, slot_ids, user_ids, False)
        for op in _operations(state, slot_ids, user_ids):
            nxt = state.copy()
            nxt.tick()
            result = nxt.apply(op)
            applied += 1
            if not result.ok:
                after = _key(nxt, slot_ids, user_ids, False)
                if after != before or nxt.history != state.history:
                    violation = Violation((*trace, op), (
                        f"refused ({result}) but changed the state",))
                    return finish()
                continue
            entry = nxt.history[_slot_of(op, nxt)][-1]
            problems = []
            if entry.source is not None:
                pair = (entry.event, entry.source)
                if pair in declared_targets and entry.target in declared_targets[pair]:
                    fired[pair] = fired.get(pair, 0) + 1
                else:
                    problems.append(f"slot {entry.slot_id}: {entry.event!r} moved it from "
                                    f"{entry.source!r} to {entry.target!r}, which is not a "
                                    "declared transition")
            reached.update(s.status for s in nxt.slots.values())
            problems += check_invariants(lifecycle, nxt.views(slot_ids))
            if problems:
                violation = Violation((*trace, op), tuple(problems))
                return finish()
            key = _key(nxt, slot_ids, user_ids, symmetric)
            if key in seen:
                continue
            seen.add(key)
            if len(seen) >= max_states:
                return finish()
            frontier.append((nxt, (*trace, op)))
        now = time.monotonic()
        if progress is not None and now - last_report >= 1.0:
            progress(level, len(seen), len(seen) / (now - started))
            last_report = now
    exhaustive = not frontier
    return finish()


def _slot_of(op: Operation, model: ReferenceModel) -> str:
    if op.name in ("close_record", "cancel", "complete", "stop"):
        return model.records[op.record].slot_id
    assert isinstance(op.slot, str)
    return op.slot
