"""Bad input: a clear error of the right class, and nothing changed."""

from __future__ import annotations

from typing import Any

import pytest

import slotfsm
from helpers import snapshot
from slotfsm import InvalidInput, NotFound, SlotManager, Store

AWKWARD_IDS = [
    "it's",
    'say "hi"',
    "a; DROP TABLE slotfsm_slots; --",
    "Robert'); DROP TABLE slotfsm_records;--",
    "ünïcödé-槽位-🔌",
    "{hash}:tag",
    "%s %(x)s ?",
    "x" * slotfsm._manager.MAX_ID_LENGTH,
    " spaced id ",
]


class TestIds:
    @pytest.mark.parametrize("slot_id", AWKWARD_IDS)
    def test_awkward_ids_round_trip(self, store: Store, slot_id: str) -> None:
        """Quotes, semicolons, unicode and long ids round-trip unchanged."""
        mgr = SlotManager(store)
        assert mgr.add_slot(slot_id).id == slot_id
        r = mgr.book(slot_id, user=slot_id)
        assert mgr.get_record(r.id).slot_id == slot_id
        assert mgr.get_slot(slot_id).status == "booked"
        assert [s.id for s in mgr.list_slots()] == [slot_id]
        assert mgr.cancel_reservation(r.id, user=slot_id).status == "cancelled"
        assert [h.user for h in mgr.history(slot_id)][1:] == [slot_id, slot_id]

    @pytest.mark.parametrize(
        ("bad", "message"),
        [
            ("", "slot id is empty"),
            ("x" * 10_000, "slot id is 10000 characters long"),
            ("a\x00b", "control or non-printable"),
            ("line\nbreak", "control or non-printable"),
            ("\ud800", "control or non-printable"),
            (None, "slot id must be a string, not NoneType"),
            (42, "slot id must be a string, not int"),
            (b"A1", "slot id must be a string, not bytes"),
        ],
    )
    def test_bad_slot_ids(self, store: Store, bad: Any, message: str) -> None:
        """Malformed slot ids are 400 everywhere and change nothing."""
        mgr = SlotManager(store)
        mgr.add_slot("A1")
        before = snapshot(store)
        for call in (
            lambda: mgr.add_slot(bad),
            lambda: mgr.get_slot(bad),
            lambda: mgr.book(bad, user="u1"),
            lambda: mgr.start_charging(bad, user="u1"),
            lambda: mgr.history(bad),
            lambda: mgr.fire(bad, "book", user="u1"),
        ):
            with pytest.raises(InvalidInput, match=message) as info:
                call()
            assert info.value.http_status == 400
            assert info.value.to_dict()["error"] == "Bad Request"
        assert snapshot(store) == before


class TestArguments:
    @pytest.fixture
    def mgr(self, store: Store) -> SlotManager:
        m = SlotManager(store)
        m.add_slot("A1")
        return m

    @pytest.mark.parametrize(
        ("call", "exc", "message"),
        [
            (lambda m: m.fire("A1", "explode", user="u"), InvalidInput, "Unknown event 'explode'"),
            (lambda m: m.fire("A1", 3, user="u"), InvalidInput, "Unknown event 3"),
            (lambda m: m.book("A1", user=""), InvalidInput, "user is empty"),
            (lambda m: m.book("A1", user=7), InvalidInput, "user must be a string"),
            (lambda m: m.cancel_reservation(None, user="u"), InvalidInput, "record id must be"),
            (lambda m: m.cancel_reservation("r", user="u", override="yes"), InvalidInput,
             "override must be True or False"),
            (lambda m: m.fire("A1", "book", user="u", slot="x"), InvalidInput,
             "context may not use"),
            (lambda m: m.close_record("whatever", "book", user="u"), InvalidInput,
             "does not close one kind"),
            (lambda m: m.list_slots(status=5), InvalidInput, "Unknown status 5"),
            (lambda m: m.cancel_reservation("r_deadbeef_1", user="u"), NotFound,
             "Reservation r_deadbeef_1 not found"),
        ],
    )
    def test_refused(self, mgr: SlotManager, call: Any, exc: type[Exception],
                     message: str) -> None:
        """Each bad argument gets its own clear error; nothing changes."""
        before = snapshot(mgr.store)
        with pytest.raises(exc, match=message):
            call(mgr)
        assert snapshot(mgr.store) == before

    def test_bad_constructor_arguments(self) -> None:
        """A manager needs a Store and a Lifecycle."""
        with pytest.raises(InvalidInput, match="store must be a slotfsm Store"):
            SlotManager("sqlite:///x.db")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match=r"lifecycle must be a slotfsm\.Lifecycle"):
            SlotManager(lifecycle="slot")  # type: ignore[arg-type]


class TestStoreUrls:
    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("", "non-empty string"),
            ("ftp://x", "unknown store URL 'ftp://x'"),
            ("sqlite://", "names no file"),
            ("sqlite://host/x.db", "sqlite URLs have no host"),
            ("sqlite:///x.db?bogus=1", "unknown sqlite URL option 'bogus'"),
            ("sqlite:///x.db?timeout=soon", "timeout='soon' is malformed"),
            ("sqlite:///x.db?synchronous=SOMETIMES", "synchronous must be"),
            ("sqlite:///x.db?prefix=a;b", "table prefix"),
        ],
    )
    def test_bad_urls(self, url: str, message: str, tmp_path: Any,
                      monkeypatch: pytest.MonkeyPatch) -> None:
        """Malformed store URLs are 400 with the reason."""
        monkeypatch.chdir(tmp_path)
        with pytest.raises(InvalidInput, match=message):
            slotfsm.open_store(url)

    def test_password_never_shown(self) -> None:
        """A password in a URL is redacted from errors."""
        with pytest.raises(InvalidInput) as info:
            slotfsm.open_store("ftp://user:hunter2@example.invalid/x")
        assert "hunter2" not in str(info.value)
        assert "user:***@" in str(info.value)
