"""The command line: the demo, operator commands, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from slotfsm.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def store(tmp_path: Path) -> list[str]:
    return ["--store", f"sqlite:///{tmp_path / 'ops.db'}"]


class TestDemo:
    def test_demo_on_default_sqlite_file(self, tmp_path: Path) -> None:
        """`slotfsm demo` runs the checklist on ./slots.db and passes."""
        proc = subprocess.run([sys.executable, "-m", "slotfsm", "demo"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / "slots.db").exists()
        out = proc.stdout
        assert "slot status: booked" in out
        assert '"message": "Slot is booked and not available for charging"' in out
        assert ("is not available (current status: booked). "
                "Only available slots can be booked.") in out
        assert "All checks passed" in out
        assert proc.stderr == ""

    def test_demo_twice_on_memory(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The demo makes its own slot, so it can run again on the same store."""
        assert run(["--store", "memory://", "demo"], capsys)[0] == 0
        assert run(["--store", "memory://", "demo"], capsys)[0] == 0


class TestOperatorCommands:
    def test_round_trip(self, store: list[str], capsys: pytest.CaptureFixture[str]) -> None:
        """Add, book, show, cancel, start, stop, list, history."""
        assert run([*store, "slots", "add", "A1"], capsys)[1].startswith("A1\tavailable")
        code, out, _ = run([*store, "--json", "book", "A1", "--user", "u1"], capsys)
        reservation = json.loads(out)
        assert code == 0 and reservation["status"] == "active"
        code, out, _ = run([*store, "slots", "show", "A1"], capsys)
        assert "booked" in out and "allowed events: cancel, complete" in out
        code, _, err = run([*store, "start", "A1", "--user", "u2"], capsys)
        assert code == 1
        assert err == "slotfsm: 409 Conflict: Slot is booked and not available for charging\n"
        code, _, err = run([*store, "cancel", reservation["id"], "--user", "u2"], capsys)
        assert code == 1 and "403 Forbidden" in err
        assert run([*store, "cancel", reservation["id"], "--user", "u1"], capsys)[0] == 0
        code, out, _ = run([*store, "--json", "start", "A1", "--user", "u2"], capsys)
        session = json.loads(out)
        assert run([*store, "stop", session["id"], "--user", "ops", "--override"], capsys)[0] == 0
        code, out, _ = run([*store, "slots", "list", "--status", "available"], capsys)
        assert out.startswith("A1\tavailable\tv5")
        code, out, _ = run([*store, "--json", "slots", "history", "A1"], capsys)
        rows = json.loads(out)
        assert [r["event"] for r in rows] == ["create", "book", "cancel", "start", "stop"]
        assert rows[-1]["override"] is True

    def test_migrate_sqlite(self, store: list[str], capsys: pytest.CaptureFixture[str]) -> None:
        """migrate reports the schema version."""
        code, out, _ = run([*store, "migrate"], capsys)
        assert code == 0 and "schema at version 1" in out


class TestErrors:
    @pytest.mark.parametrize(
        ("argv", "code", "message"),
        [
            (["slots", "show", "nope"], 1, "slotfsm: 404 Not Found: Slot nope not found"),
            (["book", "", "--user", "u"], 2, "slotfsm: slot id is empty"),
            (["cancel", "r_x", "--user", "u"], 1, "404 Not Found: Reservation r_x not found"),
            (["slots", "list", "--status", "weird"], 2, "Unknown status 'weird'"),
        ],
    )
    def test_one_line(self, store: list[str], argv: list[str], code: int, message: str,
                      capsys: pytest.CaptureFixture[str]) -> None:
        """Refusals and bad input: one line on stderr and the right exit code."""
        got, _, err = run([*store, *argv], capsys)
        assert got == code
        assert message in err
        assert err.count("\n") == 1 and "Traceback" not in err

    def test_bad_store_url(self, capsys: pytest.CaptureFixture[str]) -> None:
        """An unknown URL scheme is one line, the password redacted."""
        code, _, err = run(["--store", "bogus://me:pw@host/x", "slots", "list"], capsys)
        assert code == 2
        assert "pw" not in err.replace("://", "") or ":***@" in err
        assert "unknown store URL 'bogus://me:***@host/x'" in err

    def test_unreachable_store_is_exit_3(self, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
        """A store that cannot be opened is 'unavailable', exit 3."""
        code, _, err = run(["--store", f"sqlite:///{tmp_path}/missing/dir/x.db", "slots", "list"],
                           capsys)
        assert code == 3 and err.startswith("slotfsm: store unavailable:")


class TestCustomLifecycle:
    def test_lifecycle_option(self, tmp_path: Path, store: list[str],
                              monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
        """--lifecycle module:NAME drives the operator commands, fire and the table."""
        (tmp_path / "hostlockers.py").write_text(
            "from slotfsm import Lifecycle, Transition\n"
            "LOCKER = Lifecycle(name='locker', states=['free', 'rented'], initial='free',\n"
            "    transitions=[Transition('rent', 'free', 'rented', opens='rental'),\n"
            "                 Transition('give_back', 'rented', 'free', closes='rental',\n"
            "                            outcome='returned')])\n")
        monkeypatch.chdir(tmp_path)
        lc = ["--lifecycle", "hostlockers:LOCKER"]
        code, out, _ = run([*lc, "lifecycle"], capsys)
        assert code == 0 and "| `free` | `rent` | — | `rented` | opens rental |" in out
        assert run([*store, *lc, "slots", "add", "L1"], capsys)[1].startswith("L1\tfree")
        code, out, _ = run([*store, *lc, "fire", "L1", "rent", "--user", "ann"], capsys)
        assert code == 0 and "opened: Rental " in out
        code, _, err = run([*store, *lc, "fire", "L1", "give_back", "--user", "bob"], capsys)
        assert code == 1 and "403 Forbidden: Rental" in err
        code, _, err = run([*store, *lc, "book", "L1", "--user", "ann"], capsys)
        assert code == 2 and "has no 'book' event opening a reservation" in err
        code, out, _ = run([*store, *lc, "fire", "L1", "give_back", "--user", "ops",
                            "--override"], capsys)
        assert code == 0 and "closed: Rental" in out and "returned" in out

    def test_bad_lifecycle_reference(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A reference that does not import is one line, exit 2."""
        code, _, err = run(["--lifecycle", "no_such_module:X", "lifecycle"], capsys)
        assert code == 2 and err.startswith("slotfsm: cannot import module 'no_such_module'")
        assert err.count("\n") == 1


class TestOptionPlacement:
    def test_global_options_after_the_command(self, store: list[str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
        """`slotfsm migrate --store URL` works like `slotfsm --store URL migrate`."""
        code, out, _ = run(["migrate", *store], capsys)
        assert code == 0 and "schema at version 1" in out
        run(["slots", "add", "A1", *store], capsys)
        code, out, _ = run(["slots", "list", "--json", *store], capsys)
        assert json.loads(out)[0]["id"] == "A1"

    def test_usage_errors_are_one_line(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A missing argument is one line and exit 2, pointing at --help."""
        with pytest.raises(SystemExit) as info:
            main(["book"])
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert "required: ID" in err or "required: SLOT_ID" in err
        assert "(see slotfsm book --help)" in err
