"""Declaring lifecycles: what is accepted, and precise InvalidDefinition for what is not."""

from __future__ import annotations

import pytest

import slotfsm
from slotfsm import SLOT_LIFECYCLE, Guard, InvalidDefinition, Lifecycle, Transition


def lc(transitions: list[Transition], states: list[str] | None = None, **kw: object) -> Lifecycle:
    return Lifecycle(states=states or ["a", "b"], initial="a", transitions=transitions, **kw)


def is_vip(*, user: str, **_: object) -> bool:
    return user.startswith("vip")


class TestDefaultLifecycle:
    def test_states_and_events(self) -> None:
        """The seed's machine: three states, five events."""
        assert SLOT_LIFECYCLE.states == ("available", "booked", "in_use")
        assert SLOT_LIFECYCLE.initial == "available"
        assert SLOT_LIFECYCLE.events == ("book", "cancel", "complete", "start", "stop")

    def test_allowed_events(self) -> None:
        """Only available slots can be booked or charged."""
        assert SLOT_LIFECYCLE.allowed_events("available") == ("book", "start")
        assert SLOT_LIFECYCLE.allowed_events("booked") == ("cancel", "complete")
        assert SLOT_LIFECYCLE.allowed_events("in_use") == ("stop",)

    def test_can(self) -> None:
        """can() answers per state and event."""
        assert SLOT_LIFECYCLE.can("available", "book")
        assert not SLOT_LIFECYCLE.can("booked", "start")
        assert not SLOT_LIFECYCLE.can("booked", "nonsense")

    def test_holds(self) -> None:
        """Each state holds the record kind its entering transition opened."""
        assert SLOT_LIFECYCLE.hold_of("available") is None
        assert SLOT_LIFECYCLE.hold_of("booked") == "reservation"
        assert SLOT_LIFECYCLE.hold_of("in_use") == "session"

    def test_unknown_state_query(self) -> None:
        """Asking about an unknown state is bad input."""
        with pytest.raises(slotfsm.InvalidInput, match="Unknown status 'nope'"):
            SLOT_LIFECYCLE.allowed_events("nope")


class TestGuards:
    def test_guard_repr_is_its_name(self) -> None:
        """Guards print by name, for tables and diagrams."""
        t = Transition("vip", "a", "b", guards=[is_vip])
        assert repr(t.guards[0]) == "is_vip"

    def test_can_evaluates_guards_with_context(self) -> None:
        """can() runs guards with the context given."""
        life = lc([Transition("go", "a", "b", guards=[is_vip]), Transition("back", "b", "a")])
        assert life.can("a", "go", user="vip-1")
        assert not life.can("a", "go", user="joe")

    def test_lambda_needs_a_name(self) -> None:
        """A lambda has no usable name; wrap it in Guard."""
        with pytest.raises(InvalidDefinition, match="no usable name"):
            Transition("go", "a", "b", guards=[lambda **_: True])
        t = Transition("go", "a", "b", guards=[Guard("always", lambda **_: True)])
        assert t.guards[0].name == "always"

    def test_guard_must_return_bool(self) -> None:
        """A guard returning a non-bool is a definition error naming it."""
        def sloppy(**_: object) -> object:
            return "yes"

        life = lc([Transition("go", "a", "b", guards=[sloppy]), Transition("back", "b", "a")])
        with pytest.raises(InvalidDefinition, match="guard 'sloppy' returned 'yes'"):
            life.can("a", "go")


class TestInvalidDefinitions:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"states": []}, "at least one state"),
            ({"states": ["a", "a", "b"]}, "state 'a' is declared twice"),
            ({"states": ["a", ""]}, "is not a non-empty string"),
            ({"initial": "zzz"}, "initial state 'zzz' is not one of the states"),
        ],
    )
    def test_states(self, kwargs: dict[str, object], message: str) -> None:
        """Bad states or initial state are named."""
        args: dict[str, object] = {
            "states": ["a", "b"], "initial": "a",
            "transitions": [Transition("go", "a", "b"), Transition("back", "b", "a")],
        }
        args.update(kwargs)
        with pytest.raises(InvalidDefinition, match=message):
            Lifecycle(**args)  # type: ignore[arg-type]

    def test_unknown_source(self) -> None:
        """A source that is not a state is named."""
        with pytest.raises(InvalidDefinition, match="source 'nowhere', which is not a state"):
            lc([Transition("go", ["a", "nowhere"], "b")])

    def test_unknown_target(self) -> None:
        """A target that is not a state is named."""
        with pytest.raises(InvalidDefinition, match="target 'c', which is not a state"):
            lc([Transition("go", "a", "c")])

    def test_unreachable_state(self) -> None:
        """A state no transition reaches is named."""
        with pytest.raises(InvalidDefinition, match="state 'c' is unreachable"):
            lc([Transition("go", "a", "b")], states=["a", "b", "c"])

    def test_two_unguarded_for_same_event_and_source(self) -> None:
        """Two unguarded transitions for one event and source: the second never fires."""
        with pytest.raises(InvalidDefinition, match="event 'go' from state 'a'"):
            lc([Transition("go", "a", "b"), Transition("go", "a", "a")])

    def test_guarded_alternatives_are_fine(self) -> None:
        """Guarded alternatives before a fallback are allowed and tried in order."""
        life = lc([
            Transition("go", "a", "b", guards=[is_vip]),
            Transition("go", "a", "a"),
            Transition("back", "b", "a"),
        ])
        assert life.engine.choose("a", "go", {"user": "vip"})[0].target == "b"  # type: ignore[union-attr]
        assert life.engine.choose("a", "go", {"user": "joe"})[0].target == "a"  # type: ignore[union-attr]

    def test_reserved_event(self) -> None:
        """'create' is add_slot's history event."""
        with pytest.raises(InvalidDefinition, match="reserved"):
            lc([Transition("create", "a", "b")])

    def test_bad_event_name(self) -> None:
        """Event names are identifiers."""
        with pytest.raises(InvalidDefinition, match="is not an identifier"):
            lc([Transition("go now", "a", "b")])

    def test_not_a_transition(self) -> None:
        """Transitions must be Transition objects."""
        with pytest.raises(InvalidDefinition, match=r"not a slotfsm\.Transition"):
            lc([("go", "a", "b")])  # type: ignore[list-item]

    def test_closes_without_outcome(self) -> None:
        """closes and outcome go together."""
        with pytest.raises(InvalidDefinition, match="'closes' and 'outcome' go together"):
            lc([Transition("go", "a", "b", opens="r"), Transition("back", "b", "a", closes="r")])

    def test_close_what_is_not_held(self) -> None:
        """Closing a record the state does not hold is inconsistent."""
        with pytest.raises(InvalidDefinition, match="closes a 'r', but a slot in 'a' holds no"):
            lc([Transition("go", "a", "b"), Transition("x", "a", "b", closes="r", outcome="done")])

    def test_open_while_holding(self) -> None:
        """Opening a second record while one is held is refused."""
        with pytest.raises(InvalidDefinition, match="while the slot still holds"):
            lc([Transition("go", "a", "b", opens="r"), Transition("again", "b", "b", opens="q"),
                Transition("back", "b", "a", closes="r", outcome="done")])

    def test_disagreeing_paths(self) -> None:
        """Two paths into one state must agree on what it holds."""
        with pytest.raises(InvalidDefinition, match="state 'b' is entered holding"):
            lc([Transition("go", "a", "b", opens="r"), Transition("plain", "a", "b"),
                Transition("back", "b", "a", closes="r", outcome="done")])

    @pytest.mark.parametrize(
        ("messages", "match"),
        [
            ({"nope": "x"}, "message key 'nope' is not a known event"),
            ({("go", "zz"): "x"}, "is not \\(known event, known state\\)"),
            ({"go": "{secret}"}, "uses {secret}"),
            ({"go": "{unclosed"}, "not a valid template"),
        ],
    )
    def test_messages(self, messages: dict[object, str], match: str) -> None:
        """Refusal messages reference known events and states and known placeholders."""
        with pytest.raises(InvalidDefinition, match=match):
            lc([Transition("go", "a", "b"), Transition("back", "b", "a")], messages=messages)

    def test_error_carries_context(self) -> None:
        """InvalidDefinition carries the offending event and state."""
        with pytest.raises(InvalidDefinition) as info:
            lc([Transition("go", ["a", "nowhere"], "b")])
        assert info.value.event == "go"
        assert info.value.status == "nowhere"


class TestCustomLifecycle:
    def test_locker(self) -> None:
        """A host's own lifecycle runs through the same manager, with guards and fire()."""
        def not_blocked(*, user: str, **_: object) -> bool:
            return user != "blocked"

        locker = Lifecycle(
            name="locker",
            states=["free", "rented", "broken"],
            initial="free",
            transitions=[
                Transition("rent", "free", "rented", guards=[not_blocked], opens="rental"),
                Transition("give_back", "rented", "free", closes="rental", outcome="returned"),
                Transition("report", "free", "broken",
                           guards=[Guard("staff", lambda *, staff=False, **_: staff is True)]),
                Transition("repair", "broken", "free"),
            ],
        )
        mgr = slotfsm.SlotManager(lifecycle=locker)
        mgr.add_slot("L1")
        with pytest.raises(slotfsm.SlotConflict, match="guard 'not_blocked' refused 'rent'") as e:
            mgr.fire("L1", "rent", user="blocked")
        assert e.value.guard == "not_blocked"
        applied = mgr.fire("L1", "rent", user="ann")
        assert applied.slot.status == "rented"
        assert applied.opened is not None and applied.opened.kind == "rental"
        assert type(applied.opened) is slotfsm.Hold
        mgr.fire("L1", "give_back", user="ann")
        with pytest.raises(slotfsm.SlotConflict, match="guard 'staff' refused"):
            mgr.fire("L1", "report", user="bob")
        assert mgr.get_slot("L1").status == "free"
        assert mgr.fire("L1", "report", user="bob", staff=True).slot.status == "broken"
        assert mgr.fire("L1", "repair", user="bob").slot.status == "free"
        assert [h.event for h in mgr.history("L1")] == [
            "create", "rent", "give_back", "report", "repair"]


class TestSeedOperationsOnOtherLifecycles:
    def test_book_needs_a_book_event_opening_a_reservation(self) -> None:
        """book()/cancel_reservation() on a lifecycle without them: 400, nothing written."""
        locker = Lifecycle(states=["free", "rented"], initial="free", transitions=[
            Transition("book", "free", "rented", opens="rental"),
            Transition("cancel", "rented", "free", closes="rental", outcome="returned"),
        ])
        mgr = slotfsm.SlotManager(lifecycle=locker)
        mgr.add_slot("L1")
        with pytest.raises(slotfsm.InvalidInput, match="no 'book' event opening a reservation"):
            mgr.book("L1", user="u")
        with pytest.raises(slotfsm.InvalidInput, match="no 'stop' event closing a session"):
            mgr.stop_charging("x_00000000_1", user="u")
        assert mgr.get_slot("L1").version == 1
        rental = mgr.fire("L1", "book", user="u").opened
        assert rental is not None and rental.kind == "rental"
        assert mgr.close_record(rental.id, "cancel", user="u").status == "returned"
