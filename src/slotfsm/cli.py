"""The ``slotfsm`` command line: the demo, operator commands, migrations, docs and checks.

Every failure is one line on stderr and a non-zero exit, never a traceback:
1 refused (conflict, forbidden, not found), 2 bad input or usage, 3 store unavailable.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TextIO

import attrs

from ._cli_kit import UsageError, add_commands, load_lifecycle
from ._default import SLOT_LIFECYCLE
from ._lifecycle import Lifecycle
from ._manager import SlotManager
from ._records import Hold, Slot, hold_title
from .errors import InvalidInput, SlotConflict, SlotFSMError, StoreUnavailable
from .stores import open_store
from .stores._url import redact

DEFAULT_STORE = "sqlite:///slots.db"

Handler = Callable[[argparse.Namespace], int]


def _lifecycle(args: argparse.Namespace) -> Lifecycle:
    return load_lifecycle(args.use_lifecycle)


def _manager(args: argparse.Namespace, lifecycle: Lifecycle | None = None) -> SlotManager:
    # main() closes the store when the command is done (pools, connections).
    store = open_store(args.store)
    args.opened.append(store)
    return SlotManager(store, lifecycle=lifecycle or _lifecycle(args))


def _emit(args: argparse.Namespace, value: Any, text: str) -> None:
    if args.json:
        print(json.dumps(_jsonable(value), ensure_ascii=False))
    else:
        print(text)


def _jsonable(value: Any) -> Any:
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if attrs.has(type(value)):
        return attrs.asdict(value)
    return value


def _slot_line(slot: Slot) -> str:
    return f"{slot.id}\t{slot.status}\tv{slot.version}"


def _record_line(record: Hold) -> str:
    return (f"{hold_title(record.kind)} {record.id} on slot {record.slot_id}: {record.status} "
            f"(user {record.user})")


# -- demo ----------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the seed's "Testing After Deployment" checklist against a store."""
    out: TextIO = sys.stdout
    # The checklist is the fix note's: it always runs the default lifecycle.
    mgr = _manager(args, SLOT_LIFECYCLE)
    slot_id = secrets.token_hex(12)  # shaped like the seed's MongoDB ObjectIds
    failures = 0

    def step(title: str) -> None:
        print(f"\n{title}", file=out)

    def status() -> None:
        print(f"   slot status: {mgr.get_slot(slot_id).status}", file=out)

    def expect_409(call: Callable[[], object], message: str | None = None) -> None:
        nonlocal failures
        try:
            call()
        except SlotConflict as err:
            print(f"   409 {json.dumps(err.to_dict(), ensure_ascii=False)}", file=out)
            if message is not None and err.message != message:
                failures += 1
                print(f"   UNEXPECTED message, wanted: {message}", file=out)
            return
        failures += 1
        print("   UNEXPECTED: the call succeeded; it should have been refused with 409", file=out)

    print(f"slotfsm demo on {redact(args.store)}", file=out)
    mgr.add_slot(slot_id)
    print(f"added slot {slot_id} (status: {mgr.get_slot(slot_id).status})", file=out)

    step("1. Book an available slot (POST /reservations): should work, slot becomes 'booked'")
    reservation = mgr.book(slot_id, user="driver-1")
    print(f"   201 reservation {reservation.id} ({reservation.status})", file=out)
    status()

    step("2. Book the booked slot again (POST /reservations, same slot): 409 Conflict")
    expect_409(lambda: mgr.book(slot_id, user="driver-2"),
               f"Slot {slot_id} is not available (current status: booked). "
               "Only available slots can be booked.")
    status()

    step("3. Start charging on the booked slot (POST /charging/start): 409 Conflict")
    expect_409(lambda: mgr.start_charging(slot_id, user="driver-2"),
               "Slot is booked and not available for charging")
    status()

    step("4. Cancel the reservation (PATCH /reservations/{id}/cancel): slot 'available' again")
    cancelled = mgr.cancel_reservation(reservation.id, user="driver-1")
    print(f"   200 reservation {cancelled.id} ({cancelled.status})", file=out)
    status()

    step("5. Start charging on the available slot: slot becomes 'in_use'")
    session = mgr.start_charging(slot_id, user="driver-2")
    print(f"   201 charging session {session.id} ({session.status})", file=out)
    status()

    step("6. Book the slot while it is charging: 409 Conflict")
    expect_409(lambda: mgr.book(slot_id, user="driver-1"),
               f"Slot {slot_id} is not available (current status: in_use). "
               "Only available slots can be booked.")
    status()

    step("7. Stop charging: slot 'available' again")
    stopped = mgr.stop_charging(session.id, user="driver-2")
    print(f"   200 charging session {stopped.id} ({stopped.status})", file=out)
    status()

    print("\nHistory:", file=out)
    for e in mgr.history(slot_id):
        print(f"   v{e.version} {e.event:<8} {e.source or '-':>9} -> {e.target:<9} "
              f"user={e.user or '-'} ref={e.ref or '-'}", file=out)
    if failures:
        print(f"\n{failures} check(s) FAILED", file=out)
        return 1
    print("\nAll checks passed: status flows and conflicts behave as the fix note says.", file=out)
    return 0


# -- operator commands ---------------------------------------------------------------------


def cmd_slots_add(args: argparse.Namespace) -> int:
    slot = _manager(args).add_slot(args.slot_id)
    _emit(args, slot, _slot_line(slot))
    return 0


def cmd_slots_list(args: argparse.Namespace) -> int:
    slots = _manager(args).list_slots(status=args.status)
    _emit(args, slots, "\n".join(_slot_line(s) for s in slots) or "(no slots)")
    return 0


def cmd_slots_show(args: argparse.Namespace) -> int:
    mgr = _manager(args)
    slot = mgr.get_slot(args.slot_id)
    active = mgr.active(args.slot_id)
    allowed = ", ".join(mgr.lifecycle.allowed_events(slot.status)) or "none"
    text = [_slot_line(slot), f"allowed events: {allowed}"]
    text += [f"active: {_record_line(r)}" for r in active] or ["active: none"]
    _emit(args, {"slot": attrs.asdict(slot), "active": _jsonable(active)}, "\n".join(text))
    return 0


def cmd_slots_history(args: argparse.Namespace) -> int:
    rows = _manager(args).history(args.slot_id)
    tab = "\t"
    text = "\n".join(
        f"v{e.version}{tab}{e.event}{tab}{e.source or '-'} -> {e.target}{tab}"
        f"user={e.user or '-'}{tab}ref={e.ref or '-'}{tab + 'override' if e.override else ''}"
        for e in rows
    )
    _emit(args, rows, text)
    return 0


# command -> (SlotManager method, whether it closes a record and so takes --override)
_RECORD_COMMANDS = {
    "book": ("book", False),
    "start": ("start_charging", False),
    "cancel": ("cancel_reservation", True),
    "complete": ("complete_reservation", True),
    "stop": ("stop_charging", True),
}


def _record_command(name: str) -> Handler:
    method, closes = _RECORD_COMMANDS[name]

    def run(args: argparse.Namespace) -> int:
        call = getattr(_manager(args), method)
        record = call(args.id, user=args.user, override=args.override) if closes else call(
            args.id, user=args.user)
        _emit(args, record, _record_line(record))
        return 0

    return run


def cmd_fire(args: argparse.Namespace) -> int:
    done = _manager(args).fire(args.slot_id, args.event, user=args.user, override=args.override)
    lines = [_slot_line(done.slot)]
    lines += [f"opened: {_record_line(done.opened)}"] if done.opened else []
    lines += [f"closed: {_record_line(done.closed)}"] if done.closed else []
    _emit(args, {"slot": attrs.asdict(done.slot), "entry": attrs.asdict(done.entry),
                 "opened": _jsonable(done.opened), "closed": _jsonable(done.closed)},
          "\n".join(lines))
    return 0


def cmd_lifecycle(args: argparse.Namespace) -> int:
    from .render import render

    print(render(_lifecycle(args), "md"), end="")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    args.opened.append(store)
    migrate = getattr(store, "migrate", None)
    if migrate is None:
        print(f"{type(store).__name__} keeps no schema; nothing to migrate")
        return 0
    version = migrate()
    print(f"{redact(args.store)}: schema at version {version}")
    return 0


# -- parser --------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line too (with where to find help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _global_options(parser: argparse.ArgumentParser) -> None:
    # Accepted after the subcommand too (`slotfsm migrate --store URL`), without
    # overriding a value given before it.
    own = {s for action in parser._actions for s in action.option_strings}
    if "--store" not in own:
        parser.add_argument("--store", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    if "--lifecycle" not in own:
        parser.add_argument("--lifecycle", dest="use_lifecycle", default=argparse.SUPPRESS,
                            help=argparse.SUPPRESS)
    if "--json" not in own:
        parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                            help=argparse.SUPPRESS)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                _global_options(child)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="slotfsm",
        description="Slot lifecycles as declared state machines, enforced atomically.",
    )
    parser.add_argument(
        "--store",
        default=os.environ.get("SLOTFSM_STORE", DEFAULT_STORE),
        help="store URL: sqlite:///file.db (default sqlite:///slots.db, or $SLOTFSM_STORE), "
        "memory://, postgresql://…, redis://…, redis+cluster://…",
    )
    parser.add_argument(
        "--lifecycle",
        dest="use_lifecycle",
        metavar="MODULE:NAME",
        default=os.environ.get("SLOTFSM_LIFECYCLE"),
        help="the host's own Lifecycle for the operator commands and 'lifecycle' "
        "(default: slotfsm.SLOT_LIFECYCLE, or $SLOTFSM_LIFECYCLE)",
    )
    parser.add_argument("--json", action="store_true", help="print records as JSON")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo", help="run the fix note's 'Testing After Deployment' checklist")
    p.set_defaults(func=cmd_demo)

    slots = sub.add_parser("slots", help="add, list, show slots and their history")
    slots_sub = slots.add_subparsers(dest="slots_command", metavar="ACTION", required=True)
    p = slots_sub.add_parser("add", help="create a slot")
    p.add_argument("slot_id")
    p.set_defaults(func=cmd_slots_add)
    p = slots_sub.add_parser("list", help="list slots")
    p.add_argument("--status", help="only slots in this status")
    p.set_defaults(func=cmd_slots_list)
    p = slots_sub.add_parser("show", help="a slot, its active record and allowed events")
    p.add_argument("slot_id")
    p.set_defaults(func=cmd_slots_show)
    p = slots_sub.add_parser("history", help="a slot's history")
    p.add_argument("slot_id")
    p.set_defaults(func=cmd_slots_history)

    for name, target, what in [
        ("book", "slot id", "book an available slot"),
        ("start", "slot id", "start charging on an available slot"),
        ("cancel", "reservation id", "cancel a reservation"),
        ("complete", "reservation id", "complete a reservation"),
        ("stop", "session id", "stop a charging session"),
    ]:
        p = sub.add_parser(name, help=what)
        p.add_argument("id", metavar=target.replace(" ", "_").upper())
        p.add_argument("--user", required=True, help="who acts")
        if _RECORD_COMMANDS[name][1]:
            p.add_argument("--override", action="store_true",
                           help="operator override: act on another user's record (recorded)")
        p.set_defaults(func=_record_command(name))

    p = sub.add_parser("fire", help="fire any lifecycle event on a slot (custom lifecycles)")
    p.add_argument("slot_id")
    p.add_argument("event")
    p.add_argument("--user", required=True, help="who acts")
    p.add_argument("--override", action="store_true",
                   help="operator override: close another user's record (recorded)")
    p.set_defaults(func=cmd_fire)

    p = sub.add_parser("lifecycle", help="the allowed-transitions table")
    p.set_defaults(func=cmd_lifecycle)
    p = sub.add_parser("migrate", help="create or upgrade the store's schema (deploy time)")
    p.set_defaults(func=cmd_migrate)

    add_commands(sub)
    for child in set(sub.choices.values()):
        _global_options(child)
    return parser


EXIT_REFUSED, EXIT_USAGE, EXIT_UNAVAILABLE = 1, 2, 3


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``slotfsm`` script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # A driver's pool logs every reconnect attempt while a server is down; the one line
    # this command prints on failure says it better.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    args.opened = []  # stores a command opened, closed below
    try:
        code: int = args.func(args)
        return code
    except StoreUnavailable as err:
        print(f"slotfsm: store unavailable: {err.message}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except (InvalidInput, ValueError) as err:
        print(f"slotfsm: {err}", file=sys.stderr)
        return EXIT_USAGE
    except SlotFSMError as err:
        print(f"slotfsm: {err.http_status} {err.error}: {err.message}", file=sys.stderr)
        return EXIT_REFUSED
    except (ImportError, UsageError) as err:
        print(f"slotfsm: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("slotfsm: interrupted", file=sys.stderr)
        return 130
    finally:
        for store in args.opened:
            store.close()


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
