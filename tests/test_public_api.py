"""The public surface is exactly what we mean to export."""

from __future__ import annotations

import subprocess
import sys

import slotfsm
import slotfsm.errors


def test_all_is_the_public_api() -> None:
    """__all__ is sorted and complete; nothing else is public."""
    assert slotfsm.__all__ == sorted(slotfsm.__all__, key=lambda n: (not n.isupper(), n))
    assert set(slotfsm.__all__) == {
        "SLOT_LIFECYCLE", "Applied", "ChargingSession", "Forbidden", "Guard", "HistoryEntry",
        "Hold", "InvalidDefinition", "InvalidInput", "Lifecycle", "MemoryStore", "NotFound",
        "PostgresStore", "RedisStore", "Reservation", "SQLiteStore", "Slot", "SlotConflict",
        "SlotFSMError", "SlotManager", "Store", "StoreUnavailable", "Transition", "open_store",
    }


def test_error_hierarchy() -> None:
    """One root; each error knows its HTTP status and reason phrase."""
    expected = {
        "SlotConflict": (409, "Conflict"),
        "NotFound": (404, "Not Found"),
        "Forbidden": (403, "Forbidden"),
        "InvalidInput": (400, "Bad Request"),
        "StoreUnavailable": (503, "Service Unavailable"),
    }
    for name, (status, phrase) in expected.items():
        cls = getattr(slotfsm, name)
        assert issubclass(cls, slotfsm.SlotFSMError)
        err = cls("boom", slot_id="A1")
        assert (err.http_status, err.slot_id) == (status, "A1")
        assert err.to_dict() == {"success": False, "error": phrase, "message": "boom"}
    assert issubclass(slotfsm.InvalidDefinition, slotfsm.SlotFSMError)
    assert slotfsm.StoreUnavailable.retryable and not slotfsm.SlotConflict.retryable
    assert sorted(slotfsm.errors.__all__) == slotfsm.errors.__all__


def test_import_pulls_no_driver() -> None:
    """`import slotfsm` imports neither psycopg nor redis nor hypothesis."""
    code = ("import sys, slotfsm; print(sorted(m for m in ('psycopg', 'redis', 'hypothesis') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
