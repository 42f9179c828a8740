"""The ``check`` and ``docs`` subcommands; ``cli.py`` registers them with :func:`add_commands`.

Each handler returns its exit code and reports every failure as ONE line on stderr:
0 fine, 1 the check found a broken invariant, 2 bad usage (a lifecycle reference that
does not import, a bad bound, an unknown format, a missing Graphviz).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

from ._default import SLOT_LIFECYCLE
from ._lifecycle import Lifecycle
from .errors import SlotFSMError

__all__ = ["DOC_FORMATS", "add_commands", "cmd_check", "cmd_docs", "load_lifecycle"]

DOC_FORMATS = ("md", "mermaid", "dot", "svg", "png")
EXIT_OK, EXIT_BROKEN, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A one-line usage problem."""


def load_lifecycle(ref: str | None) -> Lifecycle:
    """Import ``module:NAME`` (the default lifecycle when ``ref`` is ``None``).

    The current directory is importable, as with ``python -m``.

    Raises:
        UsageError: the reference is malformed, does not import, or is no Lifecycle.
    """
    if ref is None:
        return SLOT_LIFECYCLE
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"lifecycle {ref!r} must be given as module:NAME "
                         "(e.g. mypkg.lifecycles:LOCKER)")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except SlotFSMError as exc:
        raise UsageError(f"importing {module_name!r} failed: {exc}") from None
    except Exception as exc:
        raise UsageError(
            f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}"
        ) from None
    value: Any = module
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise UsageError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not isinstance(value, Lifecycle):
        raise UsageError(f"{ref} is a {type(value).__name__}, not a slotfsm.Lifecycle")
    return value


def _fail(message: str) -> int:
    print(f"slotfsm: {message}", file=sys.stderr)
    return EXIT_USAGE


def cmd_check(args: argparse.Namespace) -> int:
    """``slotfsm check [module:NAME] --slots N --users N --depth N``."""
    from ._check import check, check_bounds

    try:
        lifecycle = load_lifecycle(args.lifecycle)
        check_bounds(lifecycle, args.slots, args.users, args.depth)
    except (UsageError, SlotFSMError) as exc:
        return _fail(str(exc))

    def progress(depth: int, states: int, rate: float) -> None:
        print(f"slotfsm check: depth {depth}, {states:,} states, {rate:,.0f} states/s",
              file=sys.stderr, flush=True)

    report = check(lifecycle, slots=args.slots, users=args.users, depth=args.depth,
                   symmetry=not args.no_symmetry,
                   progress=None if args.quiet else progress)
    print(report.summary())
    return EXIT_OK if report.ok else EXIT_BROKEN


def cmd_docs(args: argparse.Namespace) -> int:
    """``slotfsm docs [--lifecycle module:NAME] [--record KIND] --format F [--output FILE]``."""
    from . import render

    fmt = args.format
    if fmt not in DOC_FORMATS:
        return _fail(f"unknown format {fmt!r}; use one of {', '.join(DOC_FORMATS)}")
    try:
        lifecycle = load_lifecycle(args.lifecycle)
        d = (render.diagram(lifecycle) if args.record is None
             else render.record_diagram(lifecycle, args.record))
    except (UsageError, SlotFSMError) as exc:
        return _fail(str(exc))
    data: str | bytes
    if fmt == "md":
        source = "slotfsm docs" + (f" --lifecycle {args.lifecycle}" if args.lifecycle else "")
        data = render.reference_page(d, source=source)
    elif fmt == "mermaid":
        data = render.mermaid(d)
    elif fmt == "dot":
        data = render.dot(d)
    else:
        try:
            data = render.render_image(render.dot(d), fmt)
        except (render.GraphvizMissing, RuntimeError, OSError) as exc:
            return _fail(str(exc))
    if args.output is None:
        if isinstance(data, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            sys.stdout.write(data)
        return EXIT_OK
    try:
        if isinstance(data, bytes):
            with open(args.output, "wb") as fb:
                fb.write(data)
        else:
            with open(args.output, "w", encoding="utf-8") as ft:
                ft.write(data)
    except OSError as exc:
        return _fail(f"cannot write {args.output!r}: {exc.strerror or exc}")
    return EXIT_OK


def _positive(text: str) -> int:
    # Parsed loosely here so that check_bounds reports every bad bound in one style.
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def add_commands(subparsers: Any) -> None:
    """Register ``check`` and ``docs`` on the CLI's subparsers (``handler(args) -> int``)."""
    p = subparsers.add_parser(
        "check",
        help="model-check a lifecycle: every state of N slots and users up to a depth",
        description="Exhaustive, bounded model check (breadth first: the trace of a "
                    "broken invariant is a shortest one). Progress goes to stderr.",
    )
    p.add_argument("lifecycle", nargs="?", default=None, metavar="module:NAME",
                   help="a Lifecycle to check (default: slotfsm's SLOT_LIFECYCLE)")
    p.add_argument("--slots", type=_positive, default=2, help="slots (default 2)")
    p.add_argument("--users", type=_positive, default=2, help="users (default 2)")
    p.add_argument("--depth", type=_positive, default=8,
                   help="operations from the empty world (default 8)")
    p.add_argument("--no-symmetry", action="store_true",
                   help="do not merge states that differ only by slot or user names")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=cmd_check)

    p = subparsers.add_parser(
        "docs",
        help="render a lifecycle: Markdown table, Mermaid, DOT, SVG or PNG",
    )
    p.add_argument("--lifecycle", default=None, metavar="module:NAME",
                   help="the lifecycle (default: slotfsm's SLOT_LIFECYCLE)")
    p.add_argument("--record", default=None, metavar="KIND",
                   help="render the lifecycle of a record kind (reservation, session, ...)")
    p.add_argument("--format", default="md", metavar="|".join(DOC_FORMATS),
                   help="output format (default md: table and Mermaid diagram)")
    p.add_argument("--output", "-o", default=None, metavar="FILE",
                   help="write to FILE (default stdout)")
    p.set_defaults(func=cmd_docs)
