"""The store contract: a RuleBasedStateMachine that holds a Store to the reference model."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from .._default import SLOT_LIFECYCLE
from .._lifecycle import Lifecycle
from .._manager import SlotManager
from .._records import Change, HistoryEntry, Hold, Outcome, Slot
from ..errors import InvalidInput
from ..stores._base import Store
from . import _strategies as S
from ._invariants import SlotView, check_invariants, snapshot
from ._model import Operation, Race, ReferenceModel, Result, named_operations, perform, record_id

__all__ = ["StoreContract", "store_contract"]


class StoreContract(RuleBasedStateMachine):
    """Base of the machines :func:`store_contract` builds; configured by class attributes."""

    factory: Callable[[], Store]
    lifecycle: Lifecycle = SLOT_LIFECYCLE
    slot_count: int = 3
    user_count: int = 3

    def __init__(self) -> None:
        super().__init__()
        self.model = ReferenceModel(self.lifecycle)
        self._salt = threading.local()
        self.store = self.factory()
        if not isinstance(self.store, Store):
            raise InvalidInput(
                f"store_contract's factory returned {self.store!r}, not a slotfsm Store"
            )
        existing = self.store.slots()
        if existing:
            raise InvalidInput(
                f"store_contract needs a fresh, empty store from every call of its factory; "
                f"this one already has {len(existing)} slot(s) ({existing[0].id!r}, ...). "
                "Give each call its own database, table prefix or key prefix."
            )
        self.gate = _Gate(self.store)
        self.manager = SlotManager(self.gate, lifecycle=self.lifecycle,
                                   clock=lambda: self.model.now, new_id=self._new_id)
        self.watched: list[str] = [*S.slot_ids(self.slot_count), S.UNKNOWN_SLOT]
        self.last: dict[str, SlotView] = {}
        self.versions: dict[str, int] = {}
        self.refused = False
        self._pool: ThreadPoolExecutor | None = None

    def _new_id(self, kind: str, slot_id: str) -> str:
        salt = getattr(self._salt, "salt", None)
        if salt is None:
            return self.model.next_record_id(kind, slot_id)
        base, letter = salt
        return record_id(kind, slot_id, base, letter)

    def teardown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        self.store.close()

    # -- running and comparing -----------------------------------------------------------

    def run(self, op: Operation) -> Result:
        """Run ``op`` on the store and the model and require the same result."""
        self.model.tick()
        op = self.model.resolve(op)
        # The manager first: its new_id asks the model for the next id before the change.
        got = perform(self.manager, op)
        expected = self.model.apply(op)
        assert got == expected, (
            f"{op!r} on {type(self.store).__name__}:\n  got      {got}\n  expected {expected}"
        )
        self.refused = not got.ok
        event(f"{op.name}: {'ok' if got.ok else got.error.__name__}")  # type: ignore[union-attr]
        return got

    def run_race(self, race: Race, first: str = "a") -> None:
        """Run two operations at once; the results must match one of the two orders.

        Both decide on the same state, then their first commits go in the order
        ``first`` names ("a": ``race.first`` commits first), so the loser's
        compare-and-set must fail; the interleaving is chosen, hence reproducible.
        """
        self.model.tick()
        base = len(self.model.records) + 1
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="slotfsm-race")
        gate = self.gate
        gate.arm(first)

        def go(op: Operation, letter: str) -> Result:
            self._salt.salt = (base, letter)
            gate.local.letter = letter
            try:
                return perform(self.manager, op)
            finally:
                self._salt.salt = None
                gate.local.letter = None
                gate.finish(letter)

        later = self._pool.submit(go, race.second, "b")
        got_a = go(race.first, "a")
        got_b = later.result()
        gate.disarm()

        def ids(letter: str) -> Callable[[str, str], str]:
            return lambda kind, slot_id: record_id(kind, slot_id, base, letter)

        tried = []
        for order in ("ab", "ba"):
            model = self.model.copy()
            results = {}
            for letter in order:
                op = race.first if letter == "a" else race.second
                results[letter] = model.apply(op, new_id=ids(letter))
            if (results["a"], results["b"]) == (got_a, got_b):
                event(f"race: {sum(r.ok for r in results.values())} of 2 won, order {order}")
                self.model = model
                self.refused = not (got_a.ok or got_b.ok)
                return
            tried.append(f"  {order}: {results['a']} | {results['b']}")
        raise AssertionError(
            f"{race.first!r} raced {race.second!r} on {type(self.store).__name__}:\n"
            f"  got: {got_a} | {got_b}\n  no serial order gives that; expected one of\n"
            + "\n".join(tried)
        )

    @invariant()
    def store_agrees_with_model(self) -> None:
        """Everything stored about the watched slots is what the model predicts."""
        now = snapshot(self.store, self.watched)
        problems = check_invariants(self.lifecycle, now)
        assert not problems, "store invariants broken:\n  " + "\n  ".join(problems)
        for sid, view in now.items():
            if view.slot is not None:
                assert view.slot.version is not None
                before = self.versions.get(sid, 0)
                assert view.slot.version >= before, (
                    f"slot {sid}: version went back from {before} to {view.slot.version}"
                )
                self.versions[sid] = view.slot.version
        if self.refused:
            assert now == self.last, "a refused operation changed the store:\n" + _diff(
                self.last, now
            )
        expected = self.model.views(self.watched)
        assert now == expected, "store differs from the model:\n" + _diff(expected, now)
        self.last = now
        self.refused = False


class _Gate(Store):
    """The store, with a gate that orders the first commits of two racing threads.

    Outside a race it only delegates. In a race, each thread's first commit waits until
    the other thread has reached its own first commit (or finished without one), then
    they pass in the armed order.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.local = threading.local()
        self._cond = threading.Condition()
        self._order: str | None = None
        self._arrived: set[str] = set()
        self._passed: set[str] = set()

    def arm(self, first: str) -> None:
        with self._cond:
            self._order = first + ("b" if first == "a" else "a")
            self._arrived = set()
            self._passed = set()

    def disarm(self) -> None:
        with self._cond:
            self._order = None

    def finish(self, letter: str) -> None:
        with self._cond:
            self._arrived.add(letter)
            self._passed.add(letter)
            self._cond.notify_all()

    def commit(self, change: Change) -> Outcome:
        letter = getattr(self.local, "letter", None)
        order = self._order
        if letter is None or order is None or letter in self._passed:
            return self.store.commit(change)
        other = "b" if letter == "a" else "a"
        with self._cond:
            self._arrived.add(letter)
            self._cond.notify_all()
            ok = self._cond.wait_for(lambda: other in self._arrived, timeout=30)
            if ok and order[1] == letter:
                ok = self._cond.wait_for(lambda: other in self._passed, timeout=30)
            assert ok, "a racing operation hung"
        try:
            return self.store.commit(change)
        finally:
            with self._cond:
                self._passed.add(letter)
                self._cond.notify_all()

    def slot(self, slot_id: str) -> Slot | None:
        return self.store.slot(slot_id)

    def slots(self, status: str | None = None) -> list[Slot]:
        return self.store.slots(status)

    def record(self, record_id: str) -> Hold | None:
        return self.store.record(record_id)

    def records(self, slot_id: str) -> list[Hold]:
        return self.store.records(slot_id)

    def history(self, slot_id: str) -> list[HistoryEntry]:
        return self.store.history(slot_id)

    def active(self, slot_id: str) -> list[Hold]:
        return self.store.active(slot_id)


def _diff(expected: dict[str, SlotView], got: dict[str, SlotView]) -> str:
    lines = []
    for sid in sorted(set(expected) | set(got)):
        a, b = expected.get(sid), got.get(sid)
        if a == b:
            continue
        assert a is not None and b is not None
        if a.slot != b.slot:
            lines.append(f"  {sid}: slot expected {a.slot}, got {b.slot}")
        if a.records != b.records:
            lines.append(f"  {sid}: records expected {list(a.records)}\n"
                         f"  {' ' * len(sid)}  got              {list(b.records)}")
        if a.history != b.history:
            lines.append(f"  {sid}: history expected {list(a.history)}\n"
                         f"  {' ' * len(sid)}  got              {list(b.history)}")
    return "\n".join(lines)


def store_contract(
    factory: Callable[[], Store],
    *,
    lifecycle: Lifecycle = SLOT_LIFECYCLE,
    slots: int = 3,
    users: int = 3,
) -> type[StoreContract]:
    """Build the contract every store must keep, as a Hypothesis state machine.

    Rules drive every SlotManager operation (add_slot, book, cancel, complete, start,
    stop, fire, close_record; with override, other users' records, unknown ids, bad
    input, and two users racing on one slot), compare each result with the
    :class:`ReferenceModel` (returned record, or error class and message), and after
    every step check :func:`check_invariants` on what the store holds, that it equals
    the model, that versions only grow, and that a refused operation changed nothing.

    Args:
        factory: Returns a fresh, empty store each call (one per example).
        lifecycle: The lifecycle to run.
        slots: How many slots (1-26).
        users: How many users (1-26; races need 2).

    Returns:
        A ``RuleBasedStateMachine`` subclass; assign its ``.TestCase`` in a test module::

            TestMyStore = store_contract(lambda: MyStore(...)).TestCase

    Raises:
        InvalidInput: a bad argument, named precisely.
    """
    if not callable(factory) or isinstance(factory, Store):
        raise InvalidInput(
            f"store_contract needs a factory that returns a fresh store (e.g. "
            f"lambda: MyStore(...)), not {factory!r}"
        )
    if not isinstance(lifecycle, Lifecycle):
        raise InvalidInput(f"lifecycle must be a slotfsm.Lifecycle, not {lifecycle!r}")
    S._count(slots, "slots")
    S._count(users, "users")

    slot = S.slot_names(slots)
    user = S.user_names(users)
    ref = S.record_refs()
    override = st.booleans()
    named = named_operations(lifecycle)
    body: dict[str, Any] = {
        "factory": staticmethod(factory),
        "lifecycle": lifecycle,
        "slot_count": slots,
        "user_count": users,
        "__doc__": f"The store contract for {lifecycle.name!r} ({slots} slots, {users} users).",
    }

    def r(name: str, fn: Callable[..., None], **kwargs: Any) -> Callable[..., None]:
        # Name the function before decorating: Hypothesis prints steps by that name.
        fn.__name__ = name
        fn.__qualname__ = f"{lifecycle.name}.{name}"
        decorated: Callable[..., None] = rule(**kwargs)(fn)  # type: ignore[no-untyped-call]
        body[name] = decorated
        return decorated

    def setup(self: StoreContract, count: int) -> None:
        # Most examples start with some slots, so most operations land somewhere.
        for sid in S.slot_ids(slots)[:count]:
            self.run(Operation("add_slot", sid))

    setup.__name__ = "add_slots"
    body["add_slots"] = initialize(count=st.integers(0, slots))(setup)

    def add_slot(self: StoreContract, slot: str) -> None:
        self.run(Operation("add_slot", slot))

    r("add_slot", add_slot, slot=S.slot_names(slots, unknown=False))

    def fire(self: StoreContract, slot: str, event: str, user: str, override: bool) -> None:
        self.run(Operation("fire", slot, event=event, user=user, override=override))

    r("fire", fire, slot=slot, event=S.events(lifecycle, unknown=True), user=user,
      override=override)

    if any(lifecycle.closes_kind(e) for e in lifecycle.events):
        def close_record(self: StoreContract, record: int | str, event: str, user: str,
                         override: bool) -> None:
            self.run(Operation("close_record", record=record, event=event, user=user,
                               override=override))

        r("close_record", close_record, record=ref, event=S.events(lifecycle), user=user,
          override=override)

    for name in named:
        if name in ("book", "start"):
            def opening(self: StoreContract, slot: str, user: str, _n: str = name) -> None:
                self.run(Operation(_n, slot, user=user))

            r(name, opening, slot=slot, user=user)
        else:
            def closing(self: StoreContract, record: int | str, user: str, override: bool,
                        _n: str = name) -> None:
                self.run(Operation(_n, record=record, user=user, override=override))

            r(name, closing, record=ref, user=user, override=override)

    def bad_input(self: StoreContract, op: Operation) -> None:
        got = self.run(op)
        assert got.error is InvalidInput, f"{op!r} must be refused as InvalidInput: {got}"

    r("bad_input", bad_input, op=S.bad_operations(lifecycle, slots=slots, users=users))

    if users >= 2:
        def race(self: StoreContract, race: Race, first: str) -> None:
            self.run_race(race, first)

        r("race", race, race=S.races(lifecycle, slots=slots, users=users),
          first=st.sampled_from("ab"))

    name = "".join(p.capitalize() for p in lifecycle.name.split("_")) + "StoreContract"
    return type(name, (StoreContract,), body)
