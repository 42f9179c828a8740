"""The store contract: every store keeps it; deliberately broken stores are caught."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from slotfsm import MemoryStore, SQLiteStore, Store
from slotfsm._records import Change
from slotfsm.errors import InvalidInput
from slotfsm.testing import store_contract

# Memory and SQLite are cheap; server stores pay a network round trip per read.
LOCAL = settings(max_examples=40, stateful_step_count=30, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])
SERVER = settings(max_examples=15, stateful_step_count=20, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])
# Finding a planted bug: deterministic, no example database, one bug at a time.
HUNT = settings(max_examples=300, stateful_step_count=30, deadline=None, database=None,
                derandomize=True, report_multiple_bugs=False,
                suppress_health_check=[HealthCheck.too_slow])


class TestEveryStoreKeepsTheContract:
    """The project's stateful property suite, over every store."""

    def test_store_keeps_the_contract(self, store_factory: Callable[[], Store],
                                      request: pytest.FixtureRequest) -> None:
        """The contract (model comparison and invariants after every step) passes."""
        kind = request.node.callspec.params["store_factory"]
        chosen = LOCAL if kind in ("memory", "sqlite") else SERVER
        run_state_machine_as_test(store_contract(store_factory), settings=chosen)

    def test_small_world_of_one_user(self) -> None:
        """With one user there are no races and no forbidden closes, and it still runs."""
        run_state_machine_as_test(store_contract(MemoryStore, slots=1, users=1),
                                  settings=settings(LOCAL, max_examples=10))


class SkipsStatusCompare(MemoryStore):
    """Broken: applies a change whatever the slot's status (no compare-and-set)."""

    def commit(self, change: Change):  # type: ignore[no-untyped-def]
        if change.source is not None and change.slot_id is not None:
            slot = self.slot(change.slot_id)
            if slot is not None:
                change = attrs.evolve(change, source=slot.status, version=None)
        return super().commit(change)


class IgnoresHolder(MemoryStore):
    """Broken: closes a record whoever asks (drops the owner check)."""

    def commit(self, change: Change):  # type: ignore[no-untyped-def]
        if change.closes is not None and change.closes.owner is not None:
            change = attrs.evolve(change, closes=attrs.evolve(change.closes, owner=None))
        return super().commit(change)


def _failing_steps(capsys: pytest.CaptureFixture[str], store: type[Store]) -> tuple[str, int]:
    with pytest.raises(AssertionError) as failure:
        run_state_machine_as_test(store_contract(store), settings=HUNT)
    out = capsys.readouterr().out + "\n".join(getattr(failure.value, "__notes__", []))
    steps = [line for line in out.splitlines()
             if line.startswith("state.") and "store_agrees_with_model" not in line
             and "teardown" not in line]
    return str(failure.value), len(steps)


class TestBrokenStoresAreCaught:
    """A store that breaks the commit contract fails the contract, with a short example."""

    def test_skipping_the_status_compare(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Double booking is caught: a second book returns a record instead of 409."""
        message, steps = _failing_steps(capsys, SkipsStatusCompare)
        assert "expected SlotConflict" in message or "no serial order" in message
        assert 1 <= steps <= 3, f"shrunk to {steps} steps"

    def test_ignoring_the_holder(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Another user's cancel is caught: it must be 403 Forbidden."""
        message, steps = _failing_steps(capsys, IgnoresHolder)
        assert "Forbidden" in message
        assert 1 <= steps <= 3, f"shrunk to {steps} steps"


class TestArgumentsAreValidatedEarly:
    """store_contract refuses bad arguments with a precise message."""

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"factory": MemoryStore()}, "needs a factory"),
        ({"factory": MemoryStore, "lifecycle": "slot"}, "lifecycle must be"),
        ({"factory": MemoryStore, "slots": 0}, "slots must be an int from 1 to 26"),
        ({"factory": MemoryStore, "users": "2"}, "users must be an int"),
    ])
    def test_bad_argument(self, kwargs: dict[str, object], message: str) -> None:
        """Each bad argument is named."""
        with pytest.raises(InvalidInput, match=message):
            store_contract(**kwargs)  # type: ignore[arg-type]

    def test_shared_store_is_refused(self, tmp_path: Path) -> None:
        """A factory that returns a store with slots in it is refused, saying why."""
        path = tmp_path / "shared.db"
        SQLiteStore(path).close()
        from slotfsm import SlotManager

        mgr = SlotManager(SQLiteStore(path))
        mgr.add_slot("left-over")
        mgr.close()
        machine = store_contract(lambda: SQLiteStore(path))
        with pytest.raises(InvalidInput, match="fresh, empty store"):
            run_state_machine_as_test(
                machine, settings=settings(LOCAL, max_examples=1, phases=[Phase.generate]))

    def test_machine_has_a_testcase(self) -> None:
        """Hosts write ``TestMyStore = store_contract(...).TestCase``."""
        import unittest

        assert issubclass(store_contract(MemoryStore).TestCase, unittest.TestCase)


class TestPytestPlugin:
    """``pytest --slotfsm-store URL`` runs the contract; the plugin imports nothing heavy."""

    def test_plugin_import_is_light(self) -> None:
        """Importing the plugin pulls in neither Hypothesis nor a store driver."""
        code = ("import sys, slotfsm.testing._plugin; "
                "print(sorted(m for m in ('hypothesis', 'slotfsm.testing._contract', "
                "'psycopg', 'redis') if m in sys.modules))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout
        assert out.strip() == "[]"

    @pytest.mark.parametrize("url", ["memory://", "sqlite:///{tmp}/plugin.db"])
    def test_option_runs_the_contract(self, tmp_path: Path, url: str) -> None:
        """An empty test directory plus --slotfsm-store gives one passing contract item."""
        (tmp_path / "test_nothing.py").write_text(textwrap.dedent("""
            def test_placeholder():
                pass
        """))
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             f"--slotfsm-store={url.format(tmp=tmp_path)}", "--slotfsm-examples=5",
             str(tmp_path)],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "2 passed" in done.stdout

    def test_option_is_in_help(self) -> None:
        """The option is listed under its own group."""
        done = subprocess.run([sys.executable, "-m", "pytest", "--help"], capture_output=True,
                              text=True, check=True)
        assert "slotfsm store contract" in done.stdout
        assert "--slotfsm-store=URL" in done.stdout
