"""slotfsm check: the bounded model checker, its bounds, its report and its CLI."""

from __future__ import annotations

import argparse

import pytest

from slotfsm import SLOT_LIFECYCLE, Lifecycle, Transition
from slotfsm._check import check, check_bounds
from slotfsm._cli_kit import add_commands
from slotfsm._records import Slot
from slotfsm.errors import InvalidInput
from slotfsm.testing import ReferenceModel


class BookedCanCharge(ReferenceModel):
    """A planted bug: a booked slot may also be charged."""

    def _choose(self, slot: Slot, event: str, user: str, context: object):  # type: ignore[no-untyped-def, override]
        if event == "start" and slot.status == "booked":
            return self.lifecycle.transitions_for("start", "available")[0]
        return super()._choose(slot, event, user, context)  # type: ignore[arg-type]


def is_staff(*, user: str, **_: object) -> bool:
    return user.startswith("staff")


LOCKER = Lifecycle(
    name="locker",
    states=["free", "rented", "broken"],
    initial="free",
    transitions=[
        Transition("rent", "free", "rented", opens="rental"),
        Transition("give_back", "rented", "free", closes="rental", outcome="returned"),
        Transition("condemn", "free", "broken", guards=[is_staff]),
    ],
)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="slotfsm")
    add_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(list(argv))


class TestDefaultLifecycle:
    """The default lifecycle keeps every invariant in every state within the bounds."""

    @pytest.mark.parametrize(("slots", "users", "depth", "states"), [
        (1, 1, 6, 4), (2, 2, 6, 13), (2, 2, 8, 13), (3, 2, 8, 32),
    ])
    def test_state_counts(self, slots: int, users: int, depth: int, states: int) -> None:
        """Canonical state counts are stable (symmetry reduced) and nothing breaks."""
        report = check(SLOT_LIFECYCLE, slots=slots, users=users, depth=depth)
        assert report.ok, report.summary()
        assert report.states == states
        assert report.exhaustive
        assert report.never_enabled == ()
        assert report.dead_ends == ()

    def test_without_symmetry_more_states(self) -> None:
        """Symmetry reduction merges states that differ by slot or user names."""
        plain = check(SLOT_LIFECYCLE, slots=2, users=2, depth=8, symmetry=False)
        assert plain.ok and plain.states == 36

    def test_depth_bound_is_reported(self) -> None:
        """A shallow bound is reported as bounded, not exhaustive."""
        report = check(SLOT_LIFECYCLE, slots=2, users=2, depth=2)
        assert not report.exhaustive
        assert "bounded at depth 2" in report.summary()


class TestPlantedBug:
    """A model that lets a booked slot be charged is caught with a shortest trace."""

    def test_trace_is_three_steps(self) -> None:
        """add_slot, book, start: the shortest way to two active records."""
        report = check(SLOT_LIFECYCLE, slots=2, users=2, depth=8, model=BookedCanCharge)
        assert report.violation is not None
        trace = [repr(op) for op in report.violation.trace]
        assert trace == ["add_slot('s0')", "fire('s0', 'book', user='u0')",
                         "fire('s0', 'start', user='u0')"]
        problems = "\n".join(report.violation.problems)
        assert "not a declared transition" in problems
        assert "2 active records" in problems
        assert "INVARIANT BROKEN" in report.summary()


class TestHostLifecycle:
    """A host lifecycle: never-enabled transitions and dead ends are reported."""

    def test_guard_never_passes_and_dead_end(self) -> None:
        """Users u0, u1 are never staff: 'condemn' never fires; 'broken' is a dead end."""
        report = check(LOCKER, slots=1, users=2, depth=6)
        assert report.ok
        assert report.never_enabled == (("condemn", "free"),)
        assert report.unreached == ("broken",)
        assert report.dead_ends == ("broken",)
        text = report.summary()
        assert "never enabled: 'condemn' from 'free'" in text
        assert "dead end: state 'broken'" in text


class TestBounds:
    """Bounds that would explode are refused before starting, in one line."""

    @pytest.mark.parametrize(("slots", "users", "depth", "message"), [
        (50, 2, 8, "--slots must be an integer from 1 to 6"),
        (2, 2, 1000, "--depth must be an integer from 1 to 64"),
        (2, 0, 8, "--users must be an integer from 1 to 6"),
        (6, 6, 8, "could reach"),
    ])
    def test_refused(self, slots: int, users: int, depth: int, message: str) -> None:
        """Each bad bound is named with its limit."""
        with pytest.raises(InvalidInput, match=message) as err:
            check_bounds(SLOT_LIFECYCLE, slots, users, depth)
        assert "\n" not in str(err.value)


class TestCommand:
    """``slotfsm check`` prints the report; exit 0, 1 (broken) or 2 (usage)."""

    def test_default(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The default lifecycle passes."""
        args = parse("check", "--slots", "2", "--users", "2", "--depth", "6")
        assert args.func(args) == 0
        out = capsys.readouterr().out
        assert "explored 13 states" in out
        assert "invariants hold" in out

    def test_host_lifecycle_by_reference(self, capsys: pytest.CaptureFixture[str]) -> None:
        """``module:NAME`` imports the host's lifecycle."""
        args = parse("check", "test_check:LOCKER", "--slots", "1", "--users", "1")
        assert args.func(args) == 0
        assert "lifecycle 'locker'" in capsys.readouterr().out

    @pytest.mark.parametrize(("argv", "message"), [
        (["check", "no_such_module:X"], "cannot import module 'no_such_module'"),
        (["check", "test_check"], "must be given as module:NAME"),
        (["check", "test_check:NOPE"], "has no attribute 'NOPE'"),
        (["check", "test_check:is_staff"], "not a slotfsm.Lifecycle"),
        (["check", "--depth", "1000"], "--depth must be an integer from 1 to 64"),
        (["check", "--slots", "50"], "--slots must be an integer"),
    ])
    def test_usage_errors_are_one_line(self, capsys: pytest.CaptureFixture[str],
                                       argv: list[str], message: str) -> None:
        """Usage problems: one line on stderr, exit 2, no traceback."""
        args = parse(*argv)
        assert args.func(args) == 2
        err = capsys.readouterr().err
        assert message in err
        assert err.count("\n") == 1
