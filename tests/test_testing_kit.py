"""slotfsm.testing: strategies, the reference model, transition paths, the public surface."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import slotfsm.testing as kit
from slotfsm import SLOT_LIFECYCLE, Lifecycle, MemoryStore, SlotConflict, SlotManager, Transition
from slotfsm.errors import InvalidInput
from slotfsm.testing import (
    Operation,
    Race,
    ReferenceModel,
    check_invariants,
    contexts,
    events,
    operation,
    operations,
    perform,
    transition_paths,
)


def battery_ok(*, battery: int = 0, **_: object) -> bool:
    return battery >= 20


CHARGER = Lifecycle(
    name="charger",
    states=["idle", "charging"],
    initial="idle",
    transitions=[
        Transition("plug", "idle", "charging", guards=[battery_ok], opens="session"),
        Transition("unplug", "charging", "idle", closes="session", outcome="done"),
    ],
)


class TestPublicSurface:
    """The kit's public names, imported lazily."""

    def test_all(self) -> None:
        """__all__ is exactly the intended vocabulary, sorted."""
        assert kit.__all__ == sorted(kit.__all__)
        assert set(kit.__all__) == {
            "Fired", "Operation", "Race", "ReferenceModel", "Result", "TransitionPath",
            "check_invariants", "contexts", "events", "operation", "operations", "perform",
            "snapshot", "store_contract", "transition_paths",
        }
        for name in kit.__all__:
            assert getattr(kit, name) is not None

    def test_unknown_name(self) -> None:
        """A missing name is an AttributeError, as for any module."""
        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            kit.nope  # noqa: B018


class TestStrategies:
    """Strategies validate their arguments early and draw the whole vocabulary."""

    @pytest.mark.parametrize(("call", "message"), [
        (lambda: events("slot"), "lifecycle must be"),
        (lambda: operation(SLOT_LIFECYCLE, slots=0), "slots must be an int from 1 to 26"),
        (lambda: operations(SLOT_LIFECYCLE, min_size=3, max_size=1), "min_size <= max_size"),
        (lambda: contexts(user=st.just("x")), "reserved"),
        (lambda: contexts(battery=5), "needs a Hypothesis strategy"),
    ])
    def test_bad_arguments(self, call: object, message: str) -> None:
        """Each bad argument is named."""
        with pytest.raises(InvalidInput, match=message):
            call()  # type: ignore[operator]

    @settings(max_examples=60, deadline=None)
    @given(ops=operations(SLOT_LIFECYCLE, slots=2, users=2, max_size=20))
    def test_sequences_match_the_model(self, ops: list[Operation | Race]) -> None:
        """A host-style test: run drawn sequences on a manager beside the model."""
        model = ReferenceModel(SLOT_LIFECYCLE)
        mgr = SlotManager(MemoryStore(), clock=lambda: model.now,
                          new_id=lambda kind, slot_id: model.next_record_id(kind, slot_id))
        for item in ops:
            steps = [item.first, item.second] if isinstance(item, Race) else [item]
            for op in steps:
                model.tick()
                op = model.resolve(op)
                got = perform(mgr, op)
                assert got == model.apply(op), op
        assert check_invariants(SLOT_LIFECYCLE, model.views(model.slots)) == []

    @settings(max_examples=30, deadline=None)
    @given(ops=operations(CHARGER, slots=1, users=2, max_size=15,
                          context=contexts(battery=st.integers(0, 40))))
    def test_custom_lifecycle_with_guard_context(self, ops: list[Operation | Race]) -> None:
        """Contexts reach the guards; the model and the manager agree on refusals."""
        model = ReferenceModel(CHARGER)
        mgr = SlotManager(MemoryStore(), lifecycle=CHARGER, clock=lambda: model.now,
                          new_id=lambda kind, slot_id: model.next_record_id(kind, slot_id))
        for item in ops:
            for op in ([item.first, item.second] if isinstance(item, Race) else [item]):
                model.tick()
                op = model.resolve(op)
                assert perform(mgr, op) == model.apply(op), op


class TestReferenceModel:
    """The model answers like the manager, and changes nothing when it refuses."""

    def test_refusal_changes_nothing(self) -> None:
        """A refused start leaves slots, records and history as they were."""
        model = ReferenceModel(SLOT_LIFECYCLE)
        model.apply(Operation("add_slot", "s0"))
        model.apply(Operation("book", "s0", user="u1"))
        before = model.views(["s0"])
        result = model.apply(Operation("start", "s0", user="u2"))
        assert result.error is SlotConflict
        assert result.message == "Slot is booked and not available for charging"
        assert model.views(["s0"]) == before

    def test_forbidden_and_override(self) -> None:
        """Another user's cancel is 403; with override it goes through and is recorded."""
        model = ReferenceModel(SLOT_LIFECYCLE)
        model.apply(Operation("add_slot", "s0"))
        model.apply(Operation("book", "s0", user="u1"))
        forbidden = model.apply(Operation("cancel", record=0, user="u2"))
        assert forbidden.error is not None and forbidden.error.http_status == 403
        done = model.apply(Operation("cancel", record=0, user="u2", override=True))
        assert done.ok and done.value.status == "cancelled"
        assert model.history["s0"][-1].override is True

    def test_unknown_operation(self) -> None:
        """Operation names are validated."""
        with pytest.raises(InvalidInput, match="unknown operation 'reserve'"):
            Operation("reserve", "s0")


class TestTransitionPaths:
    """Paths cover every transition and every refusal, and hold on a real manager."""

    def test_cover_everything(self) -> None:
        """Every (event, source) and every refused (event, state) has a path."""
        paths = transition_paths(SLOT_LIFECYCLE)
        covered = {p.covers for p in paths}
        declared = {(t.event, s) for t in SLOT_LIFECYCLE.transitions for s in t.source}
        refused = {(e, s) for s in SLOT_LIFECYCLE.states for e in SLOT_LIFECYCLE.events
                   if e not in SLOT_LIFECYCLE.allowed_events(s)}
        accepted = {p.covers for p in paths if p.error is None}
        assert refused <= covered
        # Accepted paths that are prefixes of longer ones are dropped; all pairs are walked.
        walked = {(p.events[i], _state_before(p, i)) for p in paths if p.error is None
                  for i in range(len(p.events))}
        assert declared <= walked
        assert accepted <= declared

    @pytest.mark.parametrize("path", transition_paths(SLOT_LIFECYCLE), ids=str)
    def test_each_path_on_a_manager(self, path: kit.TransitionPath) -> None:
        """The kind of example test a host writes for its own API."""
        mgr = SlotManager()
        mgr.add_slot("A1")
        records: list[str] = []
        *head, last = path.events
        for event in head:
            _fire(mgr, event, records)
        if path.error is None:
            _fire(mgr, last, records)
        else:
            with pytest.raises(path.error) as err:
                _fire(mgr, last, records)
            assert err.value.message == path.message("A1", "u1")
        assert mgr.get_slot("A1").status == path.status


def _state_before(path: kit.TransitionPath, i: int) -> str:
    state = SLOT_LIFECYCLE.initial
    for event in path.events[:i]:
        state = SLOT_LIFECYCLE.transitions_for(event, state)[0].target
    return state


def _fire(mgr: SlotManager, event: str, records: list[str]) -> None:
    applied = mgr.fire("A1", event, user="u1")
    if applied.opened is not None:
        records.append(applied.opened.id)
