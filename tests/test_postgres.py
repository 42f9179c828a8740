"""PostgresStore against real PostgreSQL servers (see servers_postgres.py)."""

from __future__ import annotations

import collections
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from slotfsm import (
    Applied,
    Forbidden,
    InvalidInput,
    NotFound,
    Reservation,
    SlotConflict,
    SlotFSMError,
    SlotManager,
    StoreUnavailable,
    open_store,
)

try:
    import psycopg
    from psycopg import pq
    from psycopg_pool import ConnectionPool

    from slotfsm.stores.postgres import SCHEMA_VERSION, PostgresStore
except ImportError:  # the missing-driver test still runs
    pass

from helpers import check_invariants, replay
from servers_postgres import PASSWORD, PostgresServer, free_port, start_server, unique_schema
from slotfsm._records import Change, Close

Factory = Callable[..., "PostgresStore"]
SLOTS = ["S0", "S1", "S2", "S3"]
USERS = ["u0", "u1", "u2"]
EXPECTED = (SlotConflict, Forbidden, NotFound)


# -- shared checks ----------------------------------------------------------------------


def orphans(store: PostgresStore) -> dict[str, int]:
    """Records and history rows whose slot does not exist (there are no foreign keys)."""
    found = {}
    for table in ("records", "history"):
        [(count,)] = store._query(
            f'SELECT count(*) FROM "{store.schema}"."{store.prefix}{table}" t WHERE NOT EXISTS '
            f'(SELECT 1 FROM "{store.schema}"."{store.prefix}slots" s WHERE s.id = t.slot_id)',
            ())
        if count:
            found[table] = count
    return found


def random_op(mgr: SlotManager, rng: random.Random, known: list[str]) -> tuple[Any, ...]:
    """One random operation; returns (slot, event, ref, version-or-None) when it applied."""
    sid = rng.choice(SLOTS)
    user = rng.choice(USERS)
    roll = rng.random()
    if roll < 0.3:
        event = rng.choice(["book", "start"])
        done = mgr.fire(sid, event, user=user)
        assert done.opened is not None
        known.append(done.opened.id)
        return (sid, event, done.opened.id, done.entry.version)
    if roll < 0.6 or not known:
        event = rng.choice(["cancel", "stop"])
        override = rng.random() < 0.1
        done = mgr.fire(sid, event, user="operator" if override else user, override=override)
        assert done.closed is not None
        return (sid, event, done.closed.id, done.entry.version)
    record_id = rng.choice(known)
    event = "cancel" if record_id.startswith("r_") else "stop"
    closed = mgr.close_record(record_id, event, user=user)
    return (closed.slot_id, event, closed.id, None)


def race_worker(url: str, schema: str, seed: int, attempts: int, seconds: float,
                out: str) -> None:
    """A process hammering the slots with random operations; writes what applied."""
    store = PostgresStore(url, schema=schema, max_size=2)
    mgr = SlotManager(store)
    rng = random.Random(seed)
    known: list[str] = []
    applied: list[tuple[Any, ...]] = []
    unexpected: list[str] = []
    deadline = time.monotonic() + seconds
    for _ in range(attempts):
        if time.monotonic() > deadline:
            break
        try:
            applied.append(random_op(mgr, rng, known))
        except EXPECTED:
            pass
        except Exception as exc:
            unexpected.append(repr(exc))
        if len(known) > 50:
            del known[:25]
    store.close()
    Path(out).write_text(json.dumps({"applied": applied, "unexpected": unexpected}))


def check_reported(store: Any, reported: list[list[Any]], exact: bool = True) -> int:
    """Every reported success is in the history exactly once (and nothing else, if exact).

    Returns how many history rows no one reported.
    """
    seen = replay(store, SLOTS)
    for sid, event, ref, version in reported:
        assert seen[(event, ref)] == 1, (sid, event, ref)
        if version is not None:
            assert any(r.version == version and r.ref == ref for r in store.history(sid))
    assert orphans(store) == {}
    unreported = sum(seen.values()) - len(reported)
    if exact:
        assert unreported == 0
    return unreported


def run_workers(url: str, schema: str, count: int, attempts: int, seconds: float,
                tmp: Path, kill_after: float | None = None) -> list[dict[str, Any]]:
    ctx = multiprocessing.get_context("spawn")
    procs = []
    for i in range(count):
        out = tmp / f"worker-{i}.json"
        p = ctx.Process(target=race_worker, args=(url, schema, 1000 + i, attempts, seconds,
                                                  str(out)))
        p.start()
        procs.append((p, out))
    if kill_after is not None:
        time.sleep(kill_after)
        victim = procs[0][0]
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
    results = []
    for p, out in procs:
        p.join(180)
        assert p.exitcode is not None, "worker hung"
        if p.exitcode == 0:
            results.append(json.loads(out.read_text()))
        else:
            assert kill_after is not None and p is procs[0][0], f"worker died: {p.exitcode}"
    return results


@pytest.fixture
def store(postgres_store_factory: Factory) -> PostgresStore:
    return postgres_store_factory()


@pytest.fixture
def mgr(store: PostgresStore) -> SlotManager:
    return SlotManager(store)


# -- round trips -------------------------------------------------------------------------


class _Traced:
    """Counts the protocol round trips (Sync or simple Query messages) a connection makes."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.file = tempfile.NamedTemporaryFile("w+", suffix=".trace", delete=False)  # noqa: SIM115
        self.conn = conn
        conn.pgconn.trace(self.file.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    def count(self) -> int:
        text = Path(self.file.name).read_text()
        sent = [line.split("\t")[2].split()[0] for line in text.splitlines()
                if line.startswith("F\t")]
        return sum(1 for message in sent if message in ("Sync", "Query"))

    def close(self) -> None:
        self.conn.pgconn.untrace()
        self.file.close()
        os.unlink(self.file.name)


@pytest.mark.postgres
class TestRoundTrips:
    """Each operation is one statement, one round trip."""

    def test_pool_ops_take_one_round_trip_each(self, postgres_url: str,
                                               postgres_store_factory: Factory) -> None:
        """Through the store's pool: book, cancel, start, stop = 1 round trip each."""
        traced: list[_Traced] = []
        pool: ConnectionPool[Any] = ConnectionPool(
            postgres_url, min_size=1, max_size=1, kwargs={"autocommit": True}, open=True,
            configure=lambda c: traced.append(_Traced(c)),
        )
        try:
            mgr = SlotManager(postgres_store_factory(pool=pool))
            mgr.add_slot("A1")
            # psycopg prepares a statement on its 5th run on a connection (one extra
            # round trip, once); warm up past it to measure the normal case.
            for _ in range(6):
                mgr.cancel_reservation(mgr.book("A1", user="u").id, user="u")
                mgr.stop_charging(mgr.start_charging("A1", user="u").id, user="u")
                mgr.get_slot("A1")
            (trace,) = traced
            counts = {}
            before = trace.count()
            r = mgr.book("A1", user="u1")
            counts["book"], before = trace.count() - before, trace.count()
            mgr.cancel_reservation(r.id, user="u1")
            counts["cancel"], before = trace.count() - before, trace.count()
            s = mgr.start_charging("A1", user="u2")
            counts["start"], before = trace.count() - before, trace.count()
            mgr.stop_charging(s.id, user="u2")
            counts["stop"], before = trace.count() - before, trace.count()
            mgr.get_slot("A1")
            counts["get_slot"] = trace.count() - before
            assert counts == {"book": 1, "cancel": 1, "start": 1, "stop": 1, "get_slot": 1}
            trace.close()
        finally:
            pool.close()

    def test_one_statement_sent_per_op_from_the_first(self, postgres_url: str,
                                                      postgres_store_factory: Factory) -> None:
        """Counting statements executed (not prepares): exactly one per op, always."""
        sent: list[str] = []

        class Counting(psycopg.Connection[Any]):
            def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                sent.append(str(query)[:40])
                return super().execute(query, *args, **kwargs)

        pool: ConnectionPool[Any] = ConnectionPool(
            postgres_url, connection_class=Counting, min_size=1, max_size=2,
            kwargs={"autocommit": True}, open=True)
        try:
            store = postgres_store_factory(pool=pool)
            store.migrate()
            mgr = SlotManager(store)
            mgr.add_slot("A1")
            for _ in range(3):
                for op in ("book", "cancel", "start", "stop"):
                    sent.clear()
                    if op in ("book", "start"):
                        record = mgr.fire("A1", op, user="u").opened
                    else:
                        assert record is not None
                        mgr.close_record(record.id, op, user="u")
                    assert len(sent) == 1, (op, sent)
        finally:
            pool.close()

    def test_race_loser_rereads_in_the_same_statement(self, mgr: SlotManager) -> None:
        """A stale decision is answered with the current slot, then decided again."""
        mgr.add_slot("A1")
        r = mgr.book("A1", user="u1")
        with pytest.raises(SlotConflict, match="not available"):
            mgr.start_charging("A1", user="u2")
        assert mgr.cancel_reservation(r.id, user="u1").status == "cancelled"


# -- embedding in the host's transaction -----------------------------------------------------


@pytest.mark.postgres
class TestEmbedding:
    """On the host's connection, the slot change commits or rolls back with the host."""

    @pytest.fixture
    def host(self, postgres_url: str) -> Iterator[psycopg.Connection[Any]]:
        conn = psycopg.connect(postgres_url)
        conn.execute("CREATE TABLE IF NOT EXISTS host_invoices (id text PRIMARY KEY)")
        conn.commit()
        yield conn
        conn.close()

    @pytest.mark.parametrize("how", ["bind", "connection"])
    def test_commit_makes_it_visible(self, host: psycopg.Connection[Any], how: str,
                                     postgres_store_factory: Factory,
                                     postgres_url: str) -> None:
        """Host commits: the booking and the host's row are both there."""
        store = postgres_store_factory()
        SlotManager(store).add_slot("A1")
        bound = store.bind(host) if how == "bind" else postgres_store_factory(
            connection=host, schema=store.schema)
        invoice = f"inv-{how}-commit-{unique_schema()}"
        with host.transaction():
            r = SlotManager(bound).book("A1", user="u1")
            host.execute("INSERT INTO host_invoices VALUES (%s)", (invoice,))
            # Not committed yet: the store's own pool does not see it.
            assert store.slot("A1").status == "available"  # type: ignore[union-attr]
        assert store.slot("A1").status == "booked"  # type: ignore[union-attr]
        assert store.record(r.id) == r
        with psycopg.connect(postgres_url) as other:
            assert other.execute("SELECT 1 FROM host_invoices WHERE id = %s",
                                 (invoice,)).fetchone() == (1,)

    @pytest.mark.parametrize("how", ["bind", "connection"])
    def test_rollback_leaves_nothing(self, host: psycopg.Connection[Any], how: str,
                                     postgres_store_factory: Factory) -> None:
        """Host rolls back: no booking, no record, no history row, no host row."""
        store = postgres_store_factory()
        SlotManager(store).add_slot("A1")
        bound = store.bind(host) if how == "bind" else postgres_store_factory(
            connection=host, schema=store.schema)
        invoice = f"inv-{how}-rollback-{unique_schema()}"
        with pytest.raises(RuntimeError), host.transaction():
            r = SlotManager(bound).book("A1", user="u1")
            host.execute("INSERT INTO host_invoices VALUES (%s)", (invoice,))
            raise RuntimeError("payment failed")
        assert store.slot("A1").status == "available"  # type: ignore[union-attr]
        assert store.record(r.id) is None
        assert len(store.history("A1")) == 1
        assert host.execute("SELECT 1 FROM host_invoices WHERE id = %s",
                            (invoice,)).fetchone() is None

    def test_slotfsm_never_commits_the_host_transaction(
            self, host: psycopg.Connection[Any], postgres_store_factory: Factory) -> None:
        """After an operation the host's transaction is still open; rollback undoes it."""
        store = postgres_store_factory()
        SlotManager(store).add_slot("A1")
        with store.bind(host) as bound:
            SlotManager(bound).book("A1", user="u1")
            assert host.info.transaction_status == pq.TransactionStatus.INTRANS
            host.rollback()
        assert store.slot("A1").status == "available"  # type: ignore[union-attr]
        assert not host.closed  # close() of a bound store leaves the host's connection

    def test_refused_change_leaves_host_transaction_usable(
            self, host: psycopg.Connection[Any], postgres_store_factory: Factory) -> None:
        """A SlotConflict (a Stale outcome) raises nothing in SQL: the host can go on."""
        store = postgres_store_factory()
        SlotManager(store).add_slot("A1")
        with host.transaction():
            mgr = SlotManager(store.bind(host))
            mgr.book("A1", user="u1")
            with pytest.raises(SlotConflict):
                mgr.book("A1", user="u2")
            host.execute("SELECT 1")
        assert store.slot("A1").status == "booked"  # type: ignore[union-attr]


# -- integrity without foreign keys, and no growth with history -----------------------


def make_reservation(record_id: str, slot_id: str) -> Reservation:
    return Reservation(record_id, slot_id, "u", created_at=1.0)


def table_stats(conn: psycopg.Connection[Any], schema: str) -> dict[str, tuple[int, int]]:
    """(n_tup_upd, n_tup_hot_upd) of each table of ``schema``, as the server counted."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    rows = conn.execute("SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                        "WHERE schemaname = %s", (schema,)).fetchall()
    return {name: (upd, hot) for name, upd, hot in rows}


@pytest.mark.postgres
class TestIntegrity:
    """The one statement keeps records and history consistent with their slot."""

    def test_nothing_written_for_a_missing_slot_or_record(self, store: PostgresStore,
                                                          mgr: SlotManager) -> None:
        """Refused changes on unknown slots and records leave no row behind."""
        mgr.add_slot("A1")
        with pytest.raises(NotFound):
            mgr.book("nope", user="u")
        with pytest.raises(NotFound):
            mgr.cancel_reservation("r_missing", user="u")
        for change in (
            Change("book", "ghost", "available", None, "booked", "u", 1.0,
                   opens=make_reservation("r_ghost", "ghost")),
            Change("cancel", None, "booked", None, "available", "u", 1.0,
                   closes=Close("reservation", "cancelled", "r_ghost", "u")),
        ):
            assert not isinstance(store.commit(change), Applied)
        assert orphans(store) == {}
        assert store.record("r_ghost") is None and store.history("ghost") == []

    def test_opening_a_second_active_record_is_refused(self, store: PostgresStore,
                                                       mgr: SlotManager) -> None:
        """A change no lifecycle makes (open while a record is active) writes nothing."""
        mgr.add_slot("A1")
        held = mgr.book("A1", user="u1")
        change = Change("book", "A1", "booked", None, "booked", "u2", 2.0,
                        opens=make_reservation("r_second", "A1"))
        with pytest.raises(SlotConflict, match="already has an active reservation"):
            store.commit(change)
        assert [r.id for r in store.active("A1")] == [held.id]
        check_invariants(store)

    def test_slot_naming_a_closed_record_aborts_the_whole_change(
            self, store: PostgresStore, mgr: SlotManager) -> None:
        """Tampered rows (the slot names a record that is not active): nothing applies."""
        mgr.add_slot("A1")
        r = mgr.book("A1", user="u1")
        store._query(f'UPDATE "{store.schema}".slotfsm_records SET status = %s '
                     f"WHERE id = %s RETURNING id", ("cancelled", r.id))
        before = (store.slot("A1"), store.history("A1"))
        with pytest.raises(SlotConflict, match="refused the change"):
            mgr.cancel_reservation(r.id, user="u1")
        assert (store.slot("A1"), store.history("A1")) == before


@pytest.mark.postgres
class TestNoGrowthWithHistory:
    """The work of an operation does not grow with the reservations ever made."""

    def test_updates_are_hot_and_no_index_mentions_status(self, postgres_url: str,
                                                          store: PostgresStore) -> None:
        """2,000 book/cancel pairs, autovacuum off: every update is HOT (no new index
        entries, dead versions pruned in place), so no index fills with dead entries."""
        store.migrate()
        schema, pairs, slots = store.schema, 2000, [f"S{i}" for i in range(10)]
        tables = [f"slotfsm_{t}" for t in ("slots", "records", "history")]
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            for table in tables:
                conn.execute(f'ALTER TABLE "{schema}"."{table}" '
                             "SET (autovacuum_enabled = off)")
            # Only primary keys and records by slot: nothing a status change touches.
            indexes = conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = ANY(%s)",
                (schema, tables)).fetchall()
            assert not any("status" in d for (d,) in indexes), indexes
            assert len(indexes) == 4, indexes
            mgr = SlotManager(store.bind(conn))
            for sid in slots:
                mgr.add_slot(sid)
            for i in range(pairs):
                r = mgr.book(slots[i % len(slots)], user="u")
                mgr.cancel_reservation(r.id, user="u")
            conn.execute("SELECT pg_stat_force_next_flush()")
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            deadline = time.monotonic() + 30
            while True:
                stats = table_stats(conn, schema)
                if stats.get("slotfsm_records", (0, 0))[0] >= pairs or (
                        time.monotonic() > deadline):
                    break
                time.sleep(0.2)
            # Every update of a slot (2 per pair) and every closing of a record is HOT.
            assert stats["slotfsm_slots"] == (2 * pairs, 2 * pairs), stats
            assert stats["slotfsm_records"] == (pairs, pairs), stats
            assert conn.execute(
                "SELECT vacuum_count + autovacuum_count FROM pg_stat_user_tables "
                "WHERE schemaname = %s AND relname = 'slotfsm_records'",
                (schema,)).fetchone() == (0,)
        check_invariants(store)


# -- races across processes ---------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.slow
class TestRaces:
    """Many processes, few slots: no double booking, nothing lost, nothing invented."""

    def test_eight_processes(self, postgres_url: str, postgres_store_factory: Factory,
                             tmp_path: Path) -> None:
        """8 processes x 1,250 random attempts over 4 slots."""
        store = postgres_store_factory()
        mgr = SlotManager(store)
        for sid in SLOTS:
            mgr.add_slot(sid)
        results = run_workers(postgres_url, store.schema, 8, 1250, 100.0, tmp_path)
        assert all(not r["unexpected"] for r in results), [r["unexpected"] for r in results]
        reported = [a for r in results for a in r["applied"]]
        assert len(reported) > 1000
        check_reported(store, reported)


# -- faults ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_server() -> Iterator[PostgresServer]:
    """A server of this module's own, which fault tests may stop and start."""
    server = start_server()
    yield server
    server.destroy()


@pytest.mark.postgres
@pytest.mark.slow
class TestFaults:
    """Killed clients, a server that goes away and comes back, an exhausted pool."""

    def test_sigkill_mid_stream_leaves_no_half_change(self, postgres_url: str,
                                                      postgres_store_factory: Factory,
                                                      tmp_path: Path) -> None:
        """A worker killed with SIGKILL while others run: the invariants hold."""
        store = postgres_store_factory()
        mgr = SlotManager(store)
        for sid in SLOTS:
            mgr.add_slot(sid)
        results = run_workers(postgres_url, store.schema, 4, 10**6, 4.0, tmp_path,
                              kill_after=2.0)
        assert len(results) == 3
        assert all(not r["unexpected"] for r in results)
        reported = [a for r in results for a in r["applied"]]
        # The killed worker's changes are in the history but were never reported.
        assert check_reported(store, reported, exact=False) >= 0

    @pytest.mark.parametrize("mode", ["immediate", "fast"])
    def test_server_restart_under_load(self, private_server: PostgresServer,
                                       mode: str) -> None:
        """Stop the server under load: StoreUnavailable, nothing partial, then it recovers."""
        store = PostgresStore(private_server.url, schema=unique_schema(), max_size=4,
                              timeout=1.0)
        mgr = SlotManager(store)
        for sid in SLOTS:
            mgr.add_slot(sid)
        stop = threading.Event()
        restarted = threading.Event()
        lock = threading.Lock()
        reported: list[tuple[Any, ...]] = []
        errors: collections.Counter[str] = collections.Counter()
        after_restart: collections.Counter[int] = collections.Counter()

        def work(n: int) -> None:
            rng = random.Random(n)
            known: list[str] = []
            while not stop.is_set():
                try:
                    done = random_op(mgr, rng, known)
                except StoreUnavailable:
                    errors["unavailable"] += 1
                    time.sleep(0.05)
                    continue
                except EXPECTED:
                    continue
                except Exception as exc:  # pragma: no cover - reported below
                    errors[repr(exc)] += 1
                    continue
                with lock:
                    reported.append(done)
                    if restarted.is_set():
                        after_restart[n] += 1

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.7)
            private_server.stop(mode)
            time.sleep(1.5)
            private_server.start()
            restarted.set()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(after_restart) < len(threads):
                time.sleep(0.1)
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        assert set(errors) == {"unavailable"}, errors
        assert len(after_restart) == len(threads), "not every thread recovered"
        # The same manager, unchanged, works again.
        mgr.add_slot("after")
        mgr.cancel_reservation(mgr.book("after", user="u").id, user="u")
        # A statement in flight when the server died may have committed unreported.
        unreported = check_reported(store, [list(r) for r in reported], exact=False)
        assert unreported <= errors["unavailable"]
        store.close()

    def test_exhausted_pool_fails_fast(self, postgres_url: str,
                                       postgres_store_factory: Factory) -> None:
        """The only connection is held: StoreUnavailable after `timeout`, not a hang."""
        pool: ConnectionPool[Any] = ConnectionPool(
            postgres_url, min_size=1, max_size=1, kwargs={"autocommit": True}, open=True)
        try:
            store = postgres_store_factory(pool=pool, timeout=0.5)
            store.migrate()
            held = pool.getconn()
            started = time.monotonic()
            with pytest.raises(StoreUnavailable,
                               match=r"no PostgreSQL connection free within 0\.5 s "
                                     r"\(pool max_size=1\)") as info:
                store.slot("A1")
            assert time.monotonic() - started < 2.0
            assert PASSWORD not in str(info.value)
            pool.putconn(held)
            assert store.slot("A1") is None
        finally:
            pool.close()

    def test_exhausted_own_pool(self, postgres_url: str) -> None:
        """The store's own pool, max_size=1, its connection busy elsewhere."""
        store = PostgresStore(postgres_url, schema=unique_schema(), max_size=1, timeout=0.5)
        try:
            SlotManager(store).add_slot("A1")
            with store._session():
                started = time.monotonic()
                with pytest.raises(StoreUnavailable, match=r"max_size=1"):
                    SlotManager(store).book("A1", user="u")
                assert time.monotonic() - started < 2.0
            assert SlotManager(store).book("A1", user="u").status == "active"
        finally:
            store.close()


# -- pools and processes ------------------------------------------------------------------------


def _forked_child(store: PostgresStore, out: str) -> None:
    mgr = SlotManager(store)
    r = mgr.book("A1", user="child")
    Path(out).write_text(r.id)


@pytest.mark.postgres
class TestPools:
    """A host's pool, and a store that crosses a fork."""

    def test_host_pool_without_autocommit(self, postgres_url: str,
                                          postgres_store_factory: Factory) -> None:
        """Connections of a non-autocommit host pool still commit each change."""
        pool: ConnectionPool[Any] = ConnectionPool(postgres_url, min_size=1, max_size=2,
                                                   open=True)
        try:
            store = postgres_store_factory(pool=pool)
            mgr = SlotManager(store)
            mgr.add_slot("A1")
            mgr.book("A1", user="u")
            other = postgres_store_factory(schema=store.schema)
            assert other.slot("A1").status == "booked"  # type: ignore[union-attr]
            with pool.connection() as conn:
                assert not conn.autocommit  # handed back as it was lent
        finally:
            pool.close()

    def test_store_used_across_fork(self, postgres_url: str, tmp_path: Path) -> None:
        """A forked child gets its own pool; the parent's connections keep working."""
        store = PostgresStore(postgres_url, schema=unique_schema(), max_size=2)
        try:
            SlotManager(store).add_slot("A1")
            out = tmp_path / "child.txt"
            child = multiprocessing.get_context("fork").Process(
                target=_forked_child, args=(store, str(out)))
            with warnings.catch_warnings():
                # Python 3.12+ warns that fork() in a threaded process may deadlock the
                # child; that is the situation this test is about.
                warnings.simplefilter("ignore", DeprecationWarning)
                child.start()
            child.join(60)
            assert child.exitcode == 0
            assert store.record(out.read_text()).user == "child"  # type: ignore[union-attr]
            assert store.slot("A1").status == "booked"  # type: ignore[union-attr]
        finally:
            store.close()


# -- bad input ------------------------------------------------------------------------------

NASTY_IDS = [
    "a'b", 'a"b', "a;b", "'; DROP TABLE slotfsm_slots; --", "\"; DROP SCHEMA public; --",
    "Robert'); DROP TABLE slotfsm_history;--", "%s", "%(sid)s", "$1", "{slots}", "\\",
    "Ωmega ünïcödé", "日本語のスロット", "🚗⚡🔌", "a" * 512, " leading and trailing ",
]


@pytest.mark.postgres
class TestBadInput:
    """Hostile ids round-trip unchanged; oversized ones are refused; tables survive."""

    @pytest.mark.parametrize("sid", NASTY_IDS)
    def test_nasty_ids_round_trip(self, mgr: SlotManager, store: PostgresStore,
                                  sid: str) -> None:
        """Quotes, semicolons, SQL, placeholders, unicode, emoji: stored as given."""
        assert mgr.add_slot(sid).id == sid
        r = mgr.book(sid, user=sid)
        assert mgr.get_slot(sid).status == "booked"
        assert store.record(r.id) == r and r.user == sid
        assert [s.id for s in mgr.list_slots()] == [sid]
        assert mgr.cancel_reservation(r.id, user=sid).status == "cancelled"
        assert [h.event for h in mgr.history(sid)] == ["create", "book", "cancel"]
        check_invariants(store)

    def test_all_nasty_ids_together_sort_like_python(self, mgr: SlotManager) -> None:
        """list_slots orders by code point, as the memory store does."""
        for sid in NASTY_IDS:
            mgr.add_slot(sid)
        assert [s.id for s in mgr.list_slots()] == sorted(NASTY_IDS)

    def test_long_ids_refused_tables_intact(self, mgr: SlotManager,
                                            store: PostgresStore) -> None:
        """10,000-character ids: InvalidInput, and the tables still work."""
        mgr.add_slot("A1")
        huge = "x" * 10_000
        for call in (lambda: mgr.add_slot(huge), lambda: mgr.book(huge, user="u"),
                     lambda: mgr.book("A1", user=huge),
                     lambda: mgr.cancel_reservation(huge, user="u")):
            with pytest.raises(InvalidInput, match="at most 512"):
                call()
        assert mgr.get_slot("A1").version == 1
        assert [s.id for s in store.slots()] == ["A1"]

    def test_store_level_nul_and_huge_values(self, store: PostgresStore) -> None:
        """Below the manager: NUL is InvalidInput, a huge id reads as absent."""
        with pytest.raises(InvalidInput):
            store.slot("a\x00b")
        assert store.slot("y" * 10_000) is None

    @pytest.mark.parametrize("schema,prefix", [
        ("x; DROP TABLE t", "slotfsm_"), ('a"b', "slotfsm_"), ("public", "a-b"),
        ("public", "p'; --"), ("1abc", "p_"), ("public", "9p"), ("s" * 64, "p_"),
    ])
    def test_bad_schema_or_prefix(self, postgres_url: str, schema: str, prefix: str) -> None:
        """Schema and prefix must be plain identifiers."""
        with pytest.raises(InvalidInput):
            PostgresStore(postgres_url, schema=schema, prefix=prefix)


# -- secrets --------------------------------------------------------------------------------


@pytest.mark.postgres
class TestPasswordNeverShown:
    """repr, str and every error hide the password."""

    def test_repr(self, postgres_url: str) -> None:
        store = PostgresStore.from_url(postgres_url + "?schema=s1")
        assert PASSWORD not in repr(store) and "***" in repr(store)
        assert PASSWORD not in repr(SlotManager(store))
        store.close()

    def test_wrong_port(self) -> None:
        """Nothing listens there: StoreUnavailable naming the redacted URL, fast."""
        url = f"postgresql://slotfsm_test:{PASSWORD}@127.0.0.1:{free_port()}/slotfsm"
        store = open_store(url + "?timeout=0.5")
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable) as info:
                SlotManager(store).add_slot("A1")
            assert time.monotonic() - started < 5
            err = info.value
            for text in (str(err), repr(err), json.dumps(err.to_dict()), repr(store)):
                assert PASSWORD not in text
            assert "slotfsm_test:***@127.0.0.1" in str(err)
            assert err.http_status == 503 and err.retryable
        finally:
            store.close()

    def test_wrong_password(self, postgres_server: PostgresServer) -> None:
        """Authentication fails: the message says so without the password tried."""
        wrong = "Wr0ng-pa55word-xyz"
        url = f"postgresql://slotfsm_test:{wrong}@127.0.0.1:{postgres_server.port}/slotfsm"
        store = PostgresStore.from_url(url, timeout=0.5)
        try:
            with pytest.raises(StoreUnavailable) as info:
                store.slot("A1")
            text = f"{info.value} {info.value!r} {store!r}"
            assert wrong not in text and PASSWORD not in text
            assert "authentication failed" in str(info.value)
        finally:
            store.close()

    def test_password_in_query_string(self) -> None:
        """A password given as ?password= is hidden too."""
        store = PostgresStore.from_url(
            f"postgresql://slotfsm_test@127.0.0.1:{free_port()}/db?password={PASSWORD}",
            timeout=0.3)
        try:
            assert PASSWORD not in repr(store)
            with pytest.raises(StoreUnavailable) as info:
                store.slot("A1")
            assert PASSWORD not in str(info.value)
        finally:
            store.close()


# -- configuration and migrations --------------------------------------------------------------


@pytest.mark.postgres
class TestMigrations:
    """Versioned, idempotent, safe under concurrent first opens."""

    def test_migrate_is_idempotent(self, store: PostgresStore) -> None:
        assert store.migrate() == SCHEMA_VERSION
        assert store.migrate() == SCHEMA_VERSION
        rows = store._query(f"SELECT version FROM {store.schema}.slotfsm_schema_version", ())
        assert rows == [(SCHEMA_VERSION,)]

    def test_concurrent_first_openers(self, postgres_url: str) -> None:
        """Twelve stores open one fresh schema at once: one migration, no error."""
        schema = unique_schema()
        stores = [PostgresStore(postgres_url, schema=schema) for _ in range(12)]
        errors: list[BaseException] = []
        barrier = threading.Barrier(len(stores))

        def first_use(s: PostgresStore) -> None:
            barrier.wait()
            try:
                s.slots()
            except BaseException as exc:  # pragma: no cover - asserted below
                errors.append(exc)

        threads = [threading.Thread(target=first_use, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        rows = stores[0]._query(f"SELECT version FROM {schema}.slotfsm_schema_version", ())
        assert rows == [(SCHEMA_VERSION,)]
        for s in stores:
            s.close()

    def test_newer_schema_refused(self, store: PostgresStore) -> None:
        store.migrate()
        store._query(f"INSERT INTO {store.schema}.slotfsm_schema_version (version) "
                     f"VALUES (99) RETURNING version", ())
        with pytest.raises(SlotFSMError, match="newer than this slotfsm supports"):
            store.migrate()

    def test_migrate_false_on_empty_schema(self, postgres_store_factory: Factory) -> None:
        store = postgres_store_factory(migrate=False)
        with pytest.raises(SlotFSMError, match="slotfsm migrate --store"):
            store.slots()
        assert store.migrate() == SCHEMA_VERSION
        assert store.slots() == []

    def test_prefix_puts_tables_beside_the_hosts(self, postgres_store_factory: Factory) -> None:
        """Two prefixes in one schema are two independent stores."""
        a = postgres_store_factory(prefix="app1_")
        b = postgres_store_factory(schema=a.schema, prefix="app2_")
        SlotManager(a).add_slot("A1")
        assert b.slots() == [] and [s.id for s in a.slots()] == ["A1"]

    def test_url_options(self, postgres_url: str) -> None:
        store = open_store(postgres_url + "?schema=opts&prefix=x_&max_size=3&timeout=0.5"
                           "&min_size=0&application_name=slotfsm-test")
        assert isinstance(store, PostgresStore)
        assert (store.schema, store.prefix, store.max_size, store.timeout, store.min_size) == (
            "opts", "x_", 3, 0.5, 0)
        SlotManager(store).add_slot("A1")
        assert store._query("SELECT current_setting('application_name')", ()) == [
            ("slotfsm-test",)]
        store.close()

    @pytest.mark.parametrize("query", ["max_size=lots", "timeout=-1", "migrate=maybe",
                                       "no_such_libpq_option=1"])
    def test_bad_url_options(self, postgres_url: str, query: str) -> None:
        with pytest.raises(InvalidInput):
            open_store(f"{postgres_url}?{query}")


# -- the driver is optional ----------------------------------------------------------------------


class TestMissingDriver:
    """Without psycopg, opening a PostgreSQL URL names the extra to install."""

    @pytest.mark.parametrize("module", ["psycopg", "psycopg_pool"])
    def test_import_error_names_extra(self, module: str) -> None:
        code = (
            f"import sys; sys.modules[{module!r}] = None\n"
            "import slotfsm\n"
            "try:\n"
            "    slotfsm.open_store('postgresql://u:pw@localhost/db')\n"
            "except ImportError as exc:\n"
            "    print(exc)\n"
            "else:\n"
            "    raise SystemExit('no ImportError')\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert "slotfsm[postgres]" in done.stdout
        assert "pw@" not in done.stdout
