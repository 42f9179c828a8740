"""slotfsm.render: one diagram model, rendered as a table, Mermaid, DOT, SVG/PNG."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from slotfsm import SLOT_LIFECYCLE, Lifecycle, Transition
from slotfsm._cli_kit import add_commands
from slotfsm.errors import InvalidInput
from slotfsm.render import (
    GraphvizMissing,
    diagram,
    dot,
    markdown_table,
    mermaid,
    record_diagram,
    record_diagrams,
    render,
    render_image,
)


def has_battery(*, battery: int = 0, **_: object) -> bool:
    return battery >= 20


def is_staff(*, user: str, **_: object) -> bool:
    return user.startswith("staff")


GUARDED = Lifecycle(
    name="guarded_charger",
    states=["idle", "charging", "paused", "out of order"],
    initial="idle",
    transitions=[
        Transition("plug", "idle", "charging", guards=[has_battery, is_staff], opens="session"),
        Transition("pause", "charging", "paused"),
        Transition("unplug", ["charging", "paused"], "idle", closes="session", outcome="done"),
        Transition("fail", "idle", "out of order"),
    ],
)

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")


class TestDiagramModel:
    """The model is extracted once: states, initial, one edge per (transition, source)."""

    def test_default(self) -> None:
        """The default lifecycle: three states, five edges, no final state."""
        d = diagram(SLOT_LIFECYCLE)
        assert d.states == ("available", "booked", "in_use")
        assert d.initial == "available"
        assert [(e.source, e.event, e.target) for e in d.edges] == [
            ("available", "book", "booked"), ("booked", "cancel", "available"),
            ("booked", "complete", "available"), ("available", "start", "in_use"),
            ("in_use", "stop", "available"),
        ]
        assert d.finals == ()

    def test_multi_source_transition(self) -> None:
        """A transition with two sources gives two edges; a state without exits is final."""
        d = diagram(GUARDED)
        assert [(e.source, e.event) for e in d.edges if e.event == "unplug"] == [
            ("charging", "unplug"), ("paused", "unplug")]
        assert d.finals == ("out of order",)

    def test_record_lifecycles_derived(self) -> None:
        """Reservation: active -> cancelled | completed; session: active -> completed."""
        res, ses = record_diagrams(SLOT_LIFECYCLE)
        assert (res.name, res.states, res.entry) == (
            "reservation", ("active", "cancelled", "completed"), ("book",))
        assert [(e.source, e.event, e.target) for e in res.edges] == [
            ("active", "cancel", "cancelled"), ("active", "complete", "completed")]
        assert (ses.states, ses.entry) == (("active", "completed"), ("start",))
        assert ses.finals == ("completed",)

    def test_unknown_record_kind(self) -> None:
        """An unknown kind names the known ones."""
        with pytest.raises(InvalidInput, match="kinds: \\['reservation', 'session'\\]"):
            record_diagram(SLOT_LIFECYCLE, "rental")


class TestMarkdown:
    """The table: state, event, guards, target, record effect."""

    def test_default_rows(self) -> None:
        """Snapshot of the default table."""
        assert markdown_table(diagram(SLOT_LIFECYCLE)).splitlines() == [
            "| State | Event | Guards | Target | Record effect |",
            "|---|---|---|---|---|",
            "| `available` | `book` | — | `booked` | opens reservation |",
            "| `booked` | `cancel` | — | `available` | closes reservation -> cancelled |",
            "| `booked` | `complete` | — | `available` | closes reservation -> completed |",
            "| `available` | `start` | — | `in_use` | opens session |",
            "| `in_use` | `stop` | — | `available` | closes session -> completed |",
        ]

    def test_guards_by_name(self) -> None:
        """Guards appear by name."""
        table = markdown_table(diagram(GUARDED))
        row = "| `idle` | `plug` | `has_battery`, `is_staff` | `charging` | opens session |"
        assert row in table


class TestMermaid:
    """stateDiagram-v2 with guards on the edges."""

    def test_default(self) -> None:
        """Snapshot of the default diagram."""
        assert mermaid(diagram(SLOT_LIFECYCLE)) == (
            "stateDiagram-v2\n"
            "    [*] --> available: add_slot\n"
            "    available --> booked: book / opens reservation\n"
            "    booked --> available: cancel / closes reservation to cancelled\n"
            "    booked --> available: complete / closes reservation to completed\n"
            "    available --> in_use: start / opens session\n"
            "    in_use --> available: stop / closes session to completed\n"
        )

    def test_guards_and_odd_state_names(self) -> None:
        """Guards in brackets; a state name with a space gets an id and a label."""
        text = mermaid(diagram(GUARDED))
        assert "idle --> charging: plug [has_battery, is_staff] / opens session" in text
        assert 'state "out of order" as out_of_order' in text
        assert "out_of_order --> [*]" in text


class TestDot:
    """DOT text with no binding; images through the dot binary."""

    def test_text(self) -> None:
        """Edges are labelled with event, guards and record effect."""
        text = dot(diagram(GUARDED))
        assert text.startswith('digraph "guarded_charger" {')
        assert '"idle" -> "charging" [label="plug [has_battery, is_staff]\\nopens session"];' \
            in text
        assert '"out of order" [label="out of order", peripheries=2];' in text

    @needs_dot
    def test_svg_and_png(self) -> None:
        """Graphviz renders both formats."""
        assert b"<svg" in render_image(dot(diagram(SLOT_LIFECYCLE)), "svg")
        assert render_image(dot(diagram(SLOT_LIFECYCLE)), "png").startswith(b"\x89PNG")

    def test_missing_graphviz(self) -> None:
        """No binary: a clear error that points at the text formats."""
        with pytest.raises(GraphvizMissing, match="not installed"):
            render_image("digraph {}", "svg", binary="no-such-dot-binary")

    def test_render_shortcut(self) -> None:
        """render(lifecycle, fmt) is the one-call form the CLI's lifecycle command uses."""
        assert render(SLOT_LIFECYCLE) == markdown_table(diagram(SLOT_LIFECYCLE))
        assert render(SLOT_LIFECYCLE, "mermaid", record="session").startswith("stateDiagram")
        with pytest.raises(InvalidInput, match="unknown format 'pdf'"):
            render(SLOT_LIFECYCLE, "pdf")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="slotfsm")
    add_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(list(argv))


class TestDocsCommand:
    """``slotfsm docs``: stdout or --output; bad input is one line and exit 2."""

    def test_mermaid_to_stdout(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Text formats go to stdout."""
        args = parse("docs", "--format", "mermaid", "--record", "reservation")
        assert args.func(args) == 0
        assert capsys.readouterr().out.startswith("stateDiagram-v2\n    [*] --> active: book")

    def test_host_lifecycle_md(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A host lifecycle by module:NAME renders its page."""
        args = parse("docs", "--lifecycle", "test_render:GUARDED", "--format", "md")
        assert args.func(args) == 0
        assert "# Guarded charger lifecycle" in capsys.readouterr().out

    @needs_dot
    def test_svg_to_file(self, tmp_path: Path) -> None:
        """Images are written to --output."""
        out = tmp_path / "slot.svg"
        args = parse("docs", "--format", "svg", "--output", str(out))
        assert args.func(args) == 0
        assert b"<svg" in out.read_bytes()

    @pytest.mark.parametrize(("argv", "message"), [
        (["docs", "--format", "pdf"], "unknown format 'pdf'"),
        (["docs", "--lifecycle", "nope:X"], "cannot import module 'nope'"),
        (["docs", "--record", "rental"], "has no record kind 'rental'"),
    ])
    def test_errors(self, capsys: pytest.CaptureFixture[str], argv: list[str],
                    message: str) -> None:
        """One line on stderr, exit 2."""
        args = parse(*argv)
        assert args.func(args) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
