"""RedisStore against real servers: one redis-server and a 3-master Redis Cluster."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import slotfsm
from helpers import replay
from servers_redis import PASSWORD, RedisCluster, RedisServer, start_server
from slotfsm import (
    Forbidden,
    InvalidInput,
    NotFound,
    SlotConflict,
    SlotManager,
    StoreUnavailable,
)
from slotfsm._ids import slot_tag
from slotfsm._records import Change, Close, Reservation, Stale
from slotfsm.stores.redis import RedisStore

pytestmark = pytest.mark.redis

AWKWARD_IDS = [
    "A1",
    "{A1}",
    "}{",
    "{}",
    "x{y}z",
    "slot: with spaces",
    "quote's \"double\"",
    "semi;colon; DROP TABLE slots;--",
    "redis.call('FLUSHALL')",
    "]] .. redis.call('DEL', KEYS[1]) .. [[",
    "*?[glob]\\",
    "ünïcødé Ω",
    "emoji 🔌⚡",
    "a" * 512,
]


@pytest.fixture(params=["server", "cluster"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(
    kind: str,
    redis_store_factory: Callable[..., RedisStore],
    redis_cluster_store_factory: Callable[..., RedisStore],
) -> Callable[..., RedisStore]:
    """Fresh stores on the single server or on the cluster."""
    return redis_store_factory if kind == "server" else redis_cluster_store_factory


@pytest.fixture
def nodes(kind: str, request: pytest.FixtureRequest) -> Iterator[list[redis.Redis]]:
    """Plain clients, one per server node, for looking behind the store's back."""
    if kind == "server":
        server: RedisServer = request.getfixturevalue("redis_server")
        ports, password = [server.port], server.password
    else:
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        ports, password = [n.port for n in cluster.nodes], None
    clients = [redis.Redis(host="127.0.0.1", port=p, password=password, decode_responses=True)
               for p in ports]
    for c in clients:
        c.ping()
    yield clients
    for c in clients:
        c.close()


def command_counts(nodes: list[redis.Redis]) -> Counter[str]:
    """Commands the servers have executed so far (without our own INFO calls)."""
    counts: Counter[str] = Counter()
    for node in nodes:
        for name, stats in node.info("commandstats").items():
            counts[name.removeprefix("cmdstat_")] += stats["calls"]
    del counts["info"]
    return counts


# What the commit script runs inside Redis; INFO commandstats counts these too.
SCRIPT_COMMANDS = {"hmget", "hset", "get", "set", "rpush", "lindex", "lrange"}


def commands_during(nodes: list[redis.Redis], store: RedisStore,
                    action: Callable[[], object], allow: frozenset[str] = frozenset()
                    ) -> list[str]:
    """The commands ``store`` sent while ``action`` ran, checked on the servers too.

    Client side: every ``execute_command`` of the store's client (Script calls go
    through it, NOSCRIPT fallback included). Server side: the EVALSHA count, and no
    command the script does not run itself.
    """
    sent: list[str] = []
    original = store.client.execute_command

    def counting(*args: Any, **kwargs: Any) -> Any:
        sent.append(str(args[0]).lower())
        return original(*args, **kwargs)  # type: ignore[no-untyped-call]

    before = command_counts(nodes)
    store.client.execute_command = counting  # type: ignore[method-assign]
    try:
        action()
    finally:
        del store.client.execute_command
    after = command_counts(nodes)
    after.subtract(before)
    on_server = +after
    assert on_server["evalsha"] == sent.count("evalsha")
    assert set(on_server) - SCRIPT_COMMANDS - {"evalsha", "script|load"} - allow == set()
    return sent


def keyslot(node: redis.Redis, key: str | bytes) -> int:
    """The cluster hash slot Redis itself computes for ``key``."""
    return int(node.execute_command("CLUSTER", "KEYSLOT", key))  # type: ignore[no-untyped-call]


# -- workers in other processes (spawned: they import this module) ------------------------


def race_worker(url: str, prefix: str, slot_ids: list[str], attempts: int, seed: int,
                out: str) -> None:
    """Random book/cancel/start/stop; writes the successes and errors to ``out``."""
    store = RedisStore.from_url(url, prefix=prefix)
    mgr = SlotManager(store)
    rng = random.Random(seed)
    user = f"user{seed % 3}"  # some workers share a user, so some closes are their own
    ok: list[tuple[str, str]] = []
    errors: Counter[str] = Counter()
    seen_ids: list[str] = ["r_00000000_nope", "not-an-id"]
    try:
        for _ in range(attempts):
            sid = rng.choice(slot_ids)
            op = rng.choice(["book", "cancel", "start", "stop"])
            try:
                if op in ("book", "start"):
                    fire = mgr.book if op == "book" else mgr.start_charging
                    rec = fire(sid, user=user)
                    ok.append((op, rec.id))
                    seen_ids.append(rec.id)
                    continue
                want = "reservation" if op == "cancel" else "session"
                active = [r.id for r in store.active(sid) if r.kind == want]
                rid = active[0] if active and rng.random() < 0.9 else rng.choice(seen_ids)
                override = rng.random() < 0.3
                close = mgr.cancel_reservation if op == "cancel" else mgr.stop_charging
                close(rid, user=user, override=override)
                ok.append((op, rid))
            except (SlotConflict, Forbidden, NotFound) as exc:
                errors[type(exc).__name__] += 1
    finally:
        store.close()
    Path(out).write_text(json.dumps({"ok": ok, "errors": errors}))


def spawn(target: Callable[..., None], *args: Any) -> multiprocessing.process.BaseProcess:
    proc = multiprocessing.get_context("spawn").Process(target=target, args=args)
    proc.start()
    return proc


# -- tests --------------------------------------------------------------------------------


class TestRoundTrips:
    """Each commit is exactly one EVALSHA on the wire."""

    def test_each_operation_is_one_evalsha(self, make_store: Callable[..., RedisStore],
                                           nodes: list[redis.Redis]) -> None:
        """book, cancel, start, stop: one EVALSHA each, nothing else."""
        mgr = SlotManager(make_store())
        mgr.add_slot("A1")
        mgr.cancel_reservation(mgr.book("A1", user="u").id, user="u")  # warm up
        got: list[Any] = []
        store = mgr.store
        assert isinstance(store, RedisStore)
        one = ["evalsha"]
        assert commands_during(nodes, store, lambda: got.append(mgr.book("A1", user="u"))) == one
        assert commands_during(
            nodes, store, lambda: mgr.cancel_reservation(got[0].id, user="u")) == one
        assert commands_during(
            nodes, store, lambda: got.append(mgr.start_charging("A1", user="u"))) == one
        assert commands_during(
            nodes, store, lambda: mgr.stop_charging(got[1].id, user="u")) == one

    def test_noscript_falls_back_to_script_load(self, make_store: Callable[..., RedisStore],
                                                nodes: list[redis.Redis]) -> None:
        """After SCRIPT FLUSH the commit loads the script and still applies once."""
        store = make_store()
        mgr = SlotManager(store)
        mgr.add_slot("A1")
        for node in nodes:
            node.script_flush()
        before = command_counts(nodes)
        # SCRIPT LOAD may open the first connection to a primary: allow its handshake.
        handshake = frozenset({"hello", "auth", "client|setinfo"})
        sent = commands_during(nodes, store, lambda: mgr.book("A1", user="u"), handshake)
        assert sent == ["evalsha", "script load", "evalsha"]  # NOSCRIPT, load, again
        loads = command_counts(nodes)["script|load"] - before["script|load"]
        assert loads == len(nodes)  # on every primary of a cluster
        assert mgr.get_slot("A1").version == 2

    def test_replayed_commit_is_applied_once(self, make_store: Callable[..., RedisStore],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
        """A commit sent twice (redis-py retries after a lost reply) is applied once."""
        store = make_store()
        mgr = SlotManager(store)
        mgr.add_slot("A1")
        monkeypatch.setattr("slotfsm.stores.redis.os.urandom", lambda n: b"\x01" * n)
        rid = f"r_{slot_tag('A1')}_x1"
        change = Change("book", "A1", "available", None, "booked", "u", 1.5,
                        opens=Reservation(rid, "A1", "u", created_at=1.5))
        first, again = store.commit(change), store.commit(change)
        assert first == again
        close = Change("cancel", "A1", "booked", None, "available", "u", 2.5,
                       closes=Close("reservation", "cancelled", None, "u"))
        monkeypatch.setattr("slotfsm.stores.redis.os.urandom", lambda n: b"\x02" * n)
        first, again = store.commit(close), store.commit(close)
        assert first == again and first.closed is not None  # type: ignore[union-attr]
        assert [h.version for h in store.history("A1")] == [1, 2, 3]


class TestKeys:
    """Every key of a slot and of its records lives in one cluster hash slot."""

    @pytest.mark.parametrize("slot_id", AWKWARD_IDS, ids=lambda s: ascii(s)[:24])
    def test_one_hash_slot_per_slot(self, slot_id: str,
                                    redis_cluster_store_factory: Callable[..., RedisStore],
                                    redis_cluster: RedisCluster) -> None:
        store = redis_cluster_store_factory()
        mgr = SlotManager(store)
        mgr.add_slot(slot_id)
        rid = mgr.book(slot_id, user="u").id
        mgr.cancel_reservation(rid, user="u")
        mgr.start_charging(slot_id, user="u")
        clients = [redis.Redis(port=n.port, decode_responses=True) for n in redis_cluster.nodes]
        try:
            keys = [k for c in clients for k in c.keys(f"{store.prefix}:*")]
            assert len(keys) == 5  # slot, recs, hist, two records
            hash_slots = {keyslot(clients[0], k) for k in keys}
            assert hash_slots == {keyslot(clients[0], f"{{{slot_tag(slot_id)}}}")}
        finally:
            for c in clients:
                c.close()

    def test_brace_in_slot_id_cannot_move_the_tag(
            self, redis_cluster: RedisCluster) -> None:
        """Redis hashes the first {...}: the tag, which precedes the slot id."""
        node = redis.Redis(port=redis_cluster.nodes[0].port)
        try:
            tag = slot_tag("{evil}")
            assert keyslot(node, f"slotfsm:{{{tag}}}:slot:{{evil}}") == \
                keyslot(node, f"{{{tag}}}")
            assert keyslot(node, "{evil}") != keyslot(node, f"{{{tag}}}")
        finally:
            node.close()

    def test_prefix_is_validated(self, redis_url: str) -> None:
        for bad in ("a{b", "a}b", "a*", "", "a b", "a::b", "ü"):
            with pytest.raises(InvalidInput):
                RedisStore.from_url(redis_url, prefix=bad)


class TestStore:
    """Contract details the cross-store suites may not reach."""

    def test_unknown_and_forged_record_ids_are_stale(
            self, make_store: Callable[..., RedisStore]) -> None:
        store = make_store()
        SlotManager(store).add_slot("A1")
        for rid in ("nope", f"r_{slot_tag('A1')}_missing", "r_zzzzzzzz_x"):
            change = Change("cancel", None, "booked", None, "available", "u", 1.0,
                            closes=Close("reservation", "cancelled", rid, "u"))
            assert store.commit(change) == Stale(None, None)
            assert store.record(rid) is None

    def test_record_id_without_tag_is_refused(
            self, make_store: Callable[..., RedisStore]) -> None:
        store = make_store()
        mgr = SlotManager(store, new_id=lambda kind, slot_id: f"{kind}-{slot_id}")
        mgr.add_slot("A1")
        with pytest.raises(InvalidInput, match="tag"):
            mgr.book("A1", user="u")
        assert store.slot("A1").version == 1  # type: ignore[union-attr]

    def test_timestamps_round_trip_exactly(self, make_store: Callable[..., RedisStore]) -> None:
        times = iter([0.1 + 0.2, 1712345678.1234567, 5e-324, 1e308])
        mgr = SlotManager(make_store(), clock=lambda: next(times))
        mgr.add_slot("A1")
        rec = mgr.book("A1", user="u")
        mgr.cancel_reservation(rec.id, user="u")
        assert [h.at for h in mgr.history("A1")] == [0.1 + 0.2, 1712345678.1234567, 5e-324]
        got = mgr.get_record(rec.id)
        assert (got.created_at, got.ended_at) == (1712345678.1234567, 5e-324)

    def test_slots_lists_and_filters(self, make_store: Callable[..., RedisStore]) -> None:
        mgr = SlotManager(make_store())
        for sid in ("b", "a", "c{x}", "é"):
            mgr.add_slot(sid)
        mgr.book("a", user="u")
        assert [s.id for s in mgr.list_slots()] == ["a", "b", "c{x}", "é"]
        assert [s.id for s in mgr.list_slots("booked")] == ["a"]
        assert mgr.list_slots("in_use") == []

    def test_prefix_from_url_and_isolation(self, redis_url: str) -> None:
        one = RedisStore.from_url(redis_url + "?prefix=iso:one")
        two = RedisStore.from_url(redis_url, prefix="iso:two")
        try:
            assert one.prefix == "iso:one"
            SlotManager(one).add_slot("A1")
            assert two.slot("A1") is None and two.slots() == []
            one.client.delete(*one.client.keys("iso:one:*"))
        finally:
            one.close()
            two.close()

    @pytest.mark.parametrize("protocol", [2, 3])
    def test_host_client_is_used_and_not_closed(self, redis_server: RedisServer,
                                                protocol: int) -> None:
        """A host's client (decoding replies, RESP2 or RESP3) works and stays open."""
        client = redis.Redis(port=redis_server.port, password=redis_server.password,
                             decode_responses=True, protocol=protocol)
        try:
            store = RedisStore(client, prefix="hostclient")
            mgr = SlotManager(store)
            mgr.add_slot("A1")
            mgr.cancel_reservation(mgr.book("A1", user="u").id, user="u")
            assert [r.status for r in store.records("A1")] == ["cancelled"]
            store.close()
            assert client.ping()
            assert store.slot("A1") is not None
            client.delete(*client.keys("hostclient:*"))
        finally:
            client.close()

    def test_open_store_dispatches(self, redis_url: str, redis_cluster_url: str) -> None:
        with slotfsm.open_store(redis_url) as one, slotfsm.open_store(redis_cluster_url) as two:
            assert isinstance(one, RedisStore) and not one.cluster
            assert isinstance(two, RedisStore) and two.cluster


class TestBadInput:
    """Hostile ids round-trip unchanged; oversized ids are refused."""

    def test_awkward_ids_round_trip(self, make_store: Callable[..., RedisStore]) -> None:
        store = make_store()
        mgr = SlotManager(store)
        for sid in AWKWARD_IDS:
            mgr.add_slot(sid)
            rec = mgr.book(sid, user=sid[:100])
            assert mgr.get_record(rec.id).slot_id == sid
            assert mgr.get_record(rec.id).user == sid[:100]
            mgr.cancel_reservation(rec.id, user=sid[:100])
            assert mgr.get_slot(sid).version == 3
            assert [h.slot_id for h in mgr.history(sid)] == [sid] * 3
        assert sorted(s.id for s in mgr.list_slots()) == sorted(AWKWARD_IDS)
        replay(store, AWKWARD_IDS)

    def test_huge_ids_are_refused(self, make_store: Callable[..., RedisStore]) -> None:
        mgr = SlotManager(make_store())
        with pytest.raises(InvalidInput):
            mgr.add_slot("x" * 10_000)
        with pytest.raises(InvalidInput):
            mgr.cancel_reservation("r" * 10_000, user="u")
        assert mgr.list_slots() == []

    def test_password_never_shown(self) -> None:
        """A dead port with a password URL: the error and repr redact it."""
        url = f"redis://admin:{PASSWORD}@127.0.0.1:1/0"
        store = RedisStore.from_url(url, socket_connect_timeout=1)
        try:
            assert PASSWORD not in repr(store) and PASSWORD not in str(store)
            with pytest.raises(StoreUnavailable) as err:
                SlotManager(store).add_slot("A1")
            assert PASSWORD not in str(err.value) and PASSWORD not in repr(err.value)
            assert err.value.http_status == 503
        finally:
            store.close()
        with pytest.raises(StoreUnavailable) as err2:
            RedisStore.from_url(f"redis+cluster://:{PASSWORD}@127.0.0.1:1")
        assert PASSWORD not in str(err2.value)


def test_missing_driver_names_the_extra() -> None:
    """Without redis-py, open_store('redis://…') says which extra to install."""
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import slotfsm\n"
        "try:\n"
        "    slotfsm.open_store('redis://:pw@localhost/0')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert "slotfsm[redis]" in done.stdout
    assert "pw" not in done.stdout


@pytest.mark.slow
class TestRaces:
    """Many processes hammer a few slots on the Redis Cluster."""

    def test_processes_race_on_cluster(self, redis_cluster_store_factory: Callable[
            ..., RedisStore], redis_cluster_url: str, tmp_path: Path) -> None:
        """8 processes x 1,250 attempts: no double booking, history accounts for all."""
        store = redis_cluster_store_factory()
        slot_ids = ["A1", "B{2}", "C 3", "D🔌"]
        mgr = SlotManager(store)
        for sid in slot_ids:
            mgr.add_slot(sid)
        outs = [tmp_path / f"w{i}.json" for i in range(8)]
        procs = [spawn(race_worker, redis_cluster_url, store.prefix, slot_ids, 1250, i,
                       str(out)) for i, out in enumerate(outs)]
        for p in procs:
            p.join(timeout=150)
            assert p.exitcode == 0
        results = [json.loads(o.read_text()) for o in outs]
        seen = replay(store, slot_ids)
        ok = Counter(tuple(x) for r in results for x in r["ok"])
        assert ok, "no worker succeeded"
        assert all(n == 1 for n in ok.values())
        assert {k: seen[k] for k in ok} == ok  # each success in history exactly once
        assert sum(seen.values()) == sum(ok.values())  # and nothing else
        errors = sum((Counter(r["errors"]) for r in results), Counter())
        assert errors["SlotConflict"] > 0


@pytest.mark.slow
class TestFaults:
    """Killed clients and a crashed server leave nothing half-applied."""

    def test_sigkilled_workers_leave_no_partial_change(
            self, redis_cluster_store_factory: Callable[..., RedisStore],
            redis_cluster_url: str, tmp_path: Path) -> None:
        store = redis_cluster_store_factory()
        slot_ids = ["A1", "B2"]
        mgr = SlotManager(store)
        for sid in slot_ids:
            mgr.add_slot(sid)
        procs = [spawn(race_worker, redis_cluster_url, store.prefix, slot_ids, 10**9, i,
                       str(tmp_path / f"w{i}.json")) for i in range(4)]
        try:
            deadline = time.monotonic() + 60
            while sum(len(store.history(s)) for s in slot_ids) < 200:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            for p in procs[:2]:
                os.kill(p.pid, signal.SIGKILL)  # type: ignore[arg-type]
            time.sleep(0.3)  # the survivors go on, then die the same way
        finally:
            for p in procs:
                p.kill()
                p.join()
        replay(store, slot_ids)

    def test_server_crash_and_restart(self, tmp_path: Path) -> None:
        """In-flight operations fail with 503; after the restart the same manager works."""
        server = start_server(tmp_path, password=PASSWORD,
                              extra=("--appendonly", "yes", "--appendfsync", "always"))
        store = RedisStore.from_url(server.url, socket_timeout=2, socket_connect_timeout=1)
        try:
            mgr = SlotManager(store)
            slot_ids = ["A1", "B2", "C3"]
            for sid in slot_ids:
                mgr.add_slot(sid)
            ok: list[tuple[str, str]] = []
            unavailable: list[StoreUnavailable] = []
            unexpected: list[BaseException] = []
            phase = {"up": True}
            ok_after: list[int] = []
            stop = threading.Event()

            def work(seed: int) -> None:
                rng = random.Random(seed)
                while not stop.is_set():
                    sid = rng.choice(slot_ids)
                    try:
                        active = store.active(sid)
                        if active:  # ours, or one whose reply the outage swallowed
                            rec, op = active[0], "cancel" if active[0].kind == "reservation" \
                                else "stop"
                            mgr.close_record(rec.id, op, user="op", override=True)
                        else:
                            fire = mgr.book if rng.random() < 0.5 else mgr.start_charging
                            op = "book" if fire == mgr.book else "start"
                            rec = fire(sid, user="u")
                        ok.append((op, rec.id))
                        if phase["up"] is False:
                            ok_after.append(1)
                    except (SlotConflict, NotFound):
                        pass  # another thread moved the slot on
                    except StoreUnavailable as exc:
                        unavailable.append(exc)
                        time.sleep(0.05)
                    except BaseException as exc:
                        unexpected.append(exc)

            threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
            for t in threads:
                t.start()
            time.sleep(0.5)
            server.stop(sig="kill")
            time.sleep(1.0)
            assert unavailable, "no operation saw the server down"
            phase["up"] = False
            server.start()
            deadline = time.monotonic() + 20
            while len(ok_after) < 50 and time.monotonic() < deadline and not unexpected:
                time.sleep(0.05)
            stop.set()
            for t in threads:
                t.join(timeout=30)
            assert not unexpected, unexpected
            assert ok_after, "the same manager did not work after the restart"
            assert all(PASSWORD not in str(e) for e in unavailable)
            assert len(ok_after) >= 50, "the same manager did not keep working"
            seen = replay(store, slot_ids)
            # appendfsync always: every acknowledged change survived the crash, once.
            assert all(seen[k] == 1 for k in ok)
        finally:
            store.close()
            server.stop()
