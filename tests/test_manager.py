"""SlotManager on every store: the seed's flows, messages, ownership and history."""

from __future__ import annotations

import contextlib
import itertools

import pytest

import slotfsm
from helpers import check_invariants, snapshot
from slotfsm import (
    ChargingSession,
    Forbidden,
    NotFound,
    Reservation,
    SlotConflict,
    SlotManager,
    Store,
)


@pytest.fixture
def mgr(store: Store) -> SlotManager:
    m = SlotManager(store)
    m.add_slot("A1")
    return m


class TestSeedFlows:
    def test_book_then_cancel(self, mgr: SlotManager) -> None:
        """Booking makes the slot booked; cancelling makes it available again."""
        r = mgr.book("A1", user="u1")
        assert isinstance(r, Reservation)
        assert (r.slot_id, r.user, r.status) == ("A1", "u1", "active")
        assert mgr.get_slot("A1").status == "booked"
        done = mgr.cancel_reservation(r.id, user="u1")
        assert (done.id, done.status) == (r.id, "cancelled")
        assert done.ended_at is not None
        assert mgr.get_slot("A1").status == "available"
        check_invariants(mgr.store)

    def test_book_then_complete(self, mgr: SlotManager) -> None:
        """Completing a reservation frees the slot too."""
        r = mgr.book("A1", user="u1")
        assert mgr.complete_reservation(r.id, user="u1").status == "completed"
        assert mgr.get_slot("A1").status == "available"

    def test_charge(self, mgr: SlotManager) -> None:
        """Starting makes the slot in_use; stopping frees it."""
        s = mgr.start_charging("A1", user="u2")
        assert isinstance(s, ChargingSession)
        assert mgr.get_slot("A1").status == "in_use"
        assert mgr.stop_charging(s.id, user="u2").status == "completed"
        assert mgr.get_slot("A1").status == "available"
        check_invariants(mgr.store)

    def test_versions_grow(self, mgr: SlotManager) -> None:
        """Every applied change bumps the version by one."""
        r = mgr.book("A1", user="u1")
        assert mgr.get_slot("A1").version == 2
        mgr.cancel_reservation(r.id, user="u1")
        assert mgr.get_slot("A1").version == 3


class TestSeedConflicts:
    def test_book_booked_slot(self, mgr: SlotManager) -> None:
        """The seed's exact 409 body for booking a non-available slot."""
        mgr.book("A1", user="u1")
        before = snapshot(mgr.store)
        with pytest.raises(SlotConflict) as info:
            mgr.book("A1", user="u2")
        assert info.value.to_dict() == {
            "success": False,
            "error": "Conflict",
            "message": "Slot A1 is not available (current status: booked). "
            "Only available slots can be booked.",
        }
        assert info.value.http_status == 409
        assert (info.value.slot_id, info.value.status) == ("A1", "booked")
        assert snapshot(mgr.store) == before

    def test_book_in_use_slot(self, mgr: SlotManager) -> None:
        """Booking a charging slot names in_use."""
        mgr.start_charging("A1", user="u1")
        with pytest.raises(SlotConflict, match=r"current status: in_use\)\. Only available"):
            mgr.book("A1", user="u2")

    def test_charge_booked_slot(self, mgr: SlotManager) -> None:
        """The seed's exact message for charging a booked slot."""
        mgr.book("A1", user="u1")
        before = snapshot(mgr.store)
        with pytest.raises(SlotConflict) as info:
            mgr.start_charging("A1", user="u1")
        assert info.value.message == "Slot is booked and not available for charging"
        assert snapshot(mgr.store) == before

    def test_charge_in_use_slot(self, mgr: SlotManager) -> None:
        """The analogous message for a slot already charging."""
        mgr.start_charging("A1", user="u1")
        with pytest.raises(SlotConflict, match=r"^Slot is in use and not available for charging$"):
            mgr.start_charging("A1", user="u2")

    def test_cancel_twice(self, mgr: SlotManager) -> None:
        """A closed reservation cannot be closed again."""
        r = mgr.book("A1", user="u1")
        mgr.cancel_reservation(r.id, user="u1")
        before = snapshot(mgr.store)
        with pytest.raises(SlotConflict, match=f"Reservation {r.id} is not active"):
            mgr.cancel_reservation(r.id, user="u1")
        with pytest.raises(SlotConflict, match="not active"):
            mgr.complete_reservation(r.id, user="u1")
        assert snapshot(mgr.store) == before

    def test_cancel_by_slot_without_reservation(self, mgr: SlotManager) -> None:
        """fire('cancel') on an available slot is refused with a clear message."""
        with pytest.raises(SlotConflict, match="has no active reservation to cancel"):
            mgr.fire("A1", "cancel", user="u1")


class TestOwnership:
    def test_other_user_cannot_cancel(self, mgr: SlotManager) -> None:
        """Only the holder may cancel; others get 403 and nothing changes."""
        r = mgr.book("A1", user="u1")
        before = snapshot(mgr.store)
        with pytest.raises(Forbidden) as info:
            mgr.cancel_reservation(r.id, user="mallory")
        assert info.value.http_status == 403
        assert info.value.to_dict()["error"] == "Forbidden"
        assert snapshot(mgr.store) == before

    def test_other_user_cannot_stop(self, mgr: SlotManager) -> None:
        """Only the driver may stop a session."""
        s = mgr.start_charging("A1", user="u1")
        with pytest.raises(Forbidden):
            mgr.stop_charging(s.id, user="u2")
        with pytest.raises(Forbidden):
            mgr.fire("A1", "stop", user="u2")
        assert mgr.get_slot("A1").status == "in_use"

    def test_operator_override_is_recorded(self, mgr: SlotManager) -> None:
        """An explicit override closes another's record and says so in history."""
        r = mgr.book("A1", user="u1")
        done = mgr.cancel_reservation(r.id, user="ops", override=True)
        assert done.status == "cancelled" and done.user == "u1"
        last = mgr.history("A1")[-1]
        assert (last.event, last.user, last.override, last.ref) == ("cancel", "ops", True, r.id)

    def test_override_only_closes(self, mgr: SlotManager) -> None:
        """override on an event that closes nothing is bad input."""
        with pytest.raises(slotfsm.InvalidInput, match="override applies only"):
            mgr.fire("A1", "book", user="ops", override=True)


class TestHistory:
    def test_rows(self, mgr: SlotManager) -> None:
        """History: creation row, then one row per change, chained source to target."""
        r = mgr.book("A1", user="u1")
        mgr.cancel_reservation(r.id, user="u1")
        s = mgr.start_charging("A1", user="u2")
        mgr.stop_charging(s.id, user="u2")
        rows = mgr.history("A1")
        assert [(h.event, h.source, h.target, h.user, h.ref) for h in rows] == [
            ("create", None, "available", None, None),
            ("book", "available", "booked", "u1", r.id),
            ("cancel", "booked", "available", "u1", r.id),
            ("start", "available", "in_use", "u2", s.id),
            ("stop", "in_use", "available", "u2", s.id),
        ]
        assert [h.version for h in rows] == [1, 2, 3, 4, 5]
        assert all(a.at <= b.at for a, b in itertools.pairwise(rows))
        check_invariants(mgr.store)

    def test_records(self, mgr: SlotManager) -> None:
        """A slot's records are kept after they close; only one is ever active."""
        r = mgr.book("A1", user="u1")
        assert mgr.active("A1") == [r]
        mgr.cancel_reservation(r.id, user="u1")
        assert mgr.active("A1") == []
        assert mgr.get_record(r.id).status == "cancelled"


class TestNotFound:
    def test_unknown_slot(self, mgr: SlotManager) -> None:
        """Unknown slots are 404 for every operation."""
        before = snapshot(mgr.store)
        for call in (
            lambda: mgr.get_slot("nope"),
            lambda: mgr.book("nope", user="u1"),
            lambda: mgr.start_charging("nope", user="u1"),
            lambda: mgr.history("nope"),
            lambda: mgr.fire("nope", "stop", user="u1"),
        ):
            with pytest.raises(NotFound, match="Slot nope not found") as info:
                call()
            assert info.value.http_status == 404
        assert snapshot(mgr.store) == before

    def test_unknown_records(self, mgr: SlotManager) -> None:
        """Unknown or wrong-kind record ids are 404."""
        s = mgr.start_charging("A1", user="u1")
        before = snapshot(mgr.store)
        with pytest.raises(NotFound, match="Reservation r_00000000_x not found"):
            mgr.cancel_reservation("r_00000000_x", user="u1")
        with pytest.raises(NotFound, match=r"Reservation .* not found"):
            mgr.cancel_reservation(s.id, user="u1")  # a session id is no reservation
        with pytest.raises(NotFound, match="Charging session nonsense not found"):
            mgr.stop_charging("nonsense", user="u1")
        with pytest.raises(NotFound):
            mgr.get_record("nonsense")
        assert snapshot(mgr.store) == before

    def test_duplicate_slot(self, mgr: SlotManager) -> None:
        """Adding an existing slot is a conflict."""
        with pytest.raises(SlotConflict, match="Slot A1 already exists"):
            mgr.add_slot("A1")


class TestListing:
    def test_list_by_status(self, store: Store) -> None:
        """list_slots filters by status and orders by id."""
        mgr = SlotManager(store)
        for sid in ("b", "a", "c"):
            mgr.add_slot(sid)
        mgr.book("b", user="u")
        assert [s.id for s in mgr.list_slots()] == ["a", "b", "c"]
        assert [s.id for s in mgr.list_slots(status="available")] == ["a", "c"]
        assert [s.id for s in mgr.list_slots(status="booked")] == ["b"]
        with pytest.raises(slotfsm.InvalidInput, match="Unknown status"):
            mgr.list_slots(status="bogus")


class TestSQLitePrefixes:
    def test_two_prefixes_share_a_file(self, tmp_path: object) -> None:
        """Each table prefix gets its own schema and version in one SQLite file."""
        from pathlib import Path

        from slotfsm import SQLiteStore

        path = Path(str(tmp_path)) / "shared.db"
        a = SlotManager(SQLiteStore(path, prefix="a_"))
        b = SlotManager(SQLiteStore(path, prefix="b_"))
        a.add_slot("X")
        b.add_slot("X")
        a.book("X", user="u")
        assert (a.get_slot("X").status, b.get_slot("X").status) == ("booked", "available")
        assert SQLiteStore(path, prefix="a_").migrate() == 1


class TestSQLiteInMemory:
    def test_threads_share_one_memory_database(self) -> None:
        """sqlite:///:memory: is one database for all threads, not one per thread."""
        import threading

        from slotfsm import SQLiteStore

        mgr = SlotManager(SQLiteStore(":memory:"))
        mgr.add_slot("A1")
        wins: list[str] = []

        def worker(n: int) -> None:
            with contextlib.suppress(SlotConflict):
                wins.append(mgr.book("A1", user=f"u{n}").id)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == 1
        assert mgr.get_slot("A1").status == "booked"
        check_invariants(mgr.store)
