"""Section 2, whole operation: book then cancel through SlotManager, per operation.

Each store is measured against the cheapest honest way to do the same job without
slotfsm, in the same run, interleaved:

* MemoryStore: one bare ``transitions`` trigger (the decision alone, nothing stored).
* SQLiteStore: the same statements written by hand with ``sqlite3``, one
  ``BEGIN IMMEDIATE`` transaction per operation, same schema, same file settings.
* PostgresStore: one conditional ``UPDATE … WHERE id = %s AND status = %s RETURNING
  version`` round trip with psycopg on one connection (autocommit).
* RedisStore: one ``EVALSHA`` of a Lua script doing HGET / compare / HSET on one key.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from typing import Any

from slotfsm import MemoryStore, SlotManager, SQLiteStore, Store

from ._common import Context, Skip, open_fresh_store, section
from ._timing import Batch, log, measure, summary
from .deciding import transitions_pair

TARGETS = {"memory": 1.5, "sqlite": 1.3, "postgres": 1.15, "redis": 1.15}

BASELINES = {
    "memory": "one bare transitions trigger",
    "sqlite": "hand-written sqlite3 transaction (BEGIN IMMEDIATE)",
    "postgres": "one raw CAS round trip (psycopg UPDATE … RETURNING)",
    "redis": "one raw CAS round trip (Lua EVALSHA)",
}
STORE_NAMES = {"memory": "MemoryStore", "sqlite": "SQLiteStore", "postgres": "PostgresStore",
               "redis": "RedisStore"}


def slotfsm_pair(store: Store, slots: list[str]) -> Batch:
    """Book then cancel through a SlotManager, on slots taken in turn."""
    mgr = SlotManager(store)
    for sid in slots:
        mgr.add_slot(sid)
    book, cancel = mgr.book, mgr.cancel_reservation
    turn = itertools.cycle(slots)

    def run(n: int) -> None:
        for _ in range(n):
            r = book(next(turn), user="u1")
            cancel(r.id, user="u1")

    return run


# -- SQLite, by hand ----------------------------------------------------------------------

# SQLiteStore's schema, default prefix "slotfsm_" (see stores/sqlite.py).
SQL_SLOT = "SELECT status, version FROM slotfsm_slots WHERE id = ?"
SQL_RECORD = "SELECT slot_id, kind, holder, status FROM slotfsm_records WHERE id = ?"
SQL_OPEN = ("INSERT INTO slotfsm_records (id, slot_id, kind, holder, status, created_at) "
            "VALUES (?, ?, 'reservation', ?, 'active', ?)")
SQL_CLOSE = ("UPDATE slotfsm_records SET status = ?, ended_at = ? "
             "WHERE id = ? AND status = 'active'")
SQL_CAS = ("UPDATE slotfsm_slots SET status = ?, version = ? "
           "WHERE id = ? AND status = ? AND version = ?")
SQL_HISTORY = ("INSERT INTO slotfsm_history "
               "(slot_id, version, event, source, target, actor, at, ref, override) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
SQL_ADD = "INSERT INTO slotfsm_slots (id, status, version) VALUES (?, 'available', 1)"


def sqlite_connect(path: str) -> sqlite3.Connection:
    """A connection with exactly the settings SQLiteStore gives its own."""
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class HandSQLite:
    """What a careful developer writes without slotfsm: the same checks and writes."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.ids = itertools.count(1)

    def add(self, sid: str) -> None:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        c.execute(SQL_ADD, (sid,))
        c.execute(SQL_HISTORY, (sid, 1, "create", None, "available", None, time.time(),
                                None, 0))
        c.execute("COMMIT")

    def book(self, sid: str, user: str) -> str | None:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        row = c.execute(SQL_SLOT, (sid,)).fetchone()
        if row is None or row[0] != "available":
            c.execute("ROLLBACK")
            return None
        version = row[1]
        at = time.time()
        rid = f"r_{next(self.ids):x}"
        c.execute(SQL_OPEN, (rid, sid, user, at))
        if c.execute(SQL_CAS, ("booked", version + 1, sid, "available", version)).rowcount != 1:
            c.execute("ROLLBACK")
            return None
        c.execute(SQL_HISTORY, (sid, version + 1, "book", "available", "booked", user, at,
                                rid, 0))
        c.execute("COMMIT")
        return rid

    def cancel(self, rid: str, user: str) -> bool:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        rec = c.execute(SQL_RECORD, (rid,)).fetchone()
        if rec is None or rec[1] != "reservation" or rec[3] != "active" or rec[2] != user:
            c.execute("ROLLBACK")
            return False
        sid = rec[0]
        row = c.execute(SQL_SLOT, (sid,)).fetchone()
        if row is None or row[0] != "booked":
            c.execute("ROLLBACK")
            return False
        version = row[1]
        at = time.time()
        c.execute(SQL_CLOSE, ("cancelled", at, rid))
        if c.execute(SQL_CAS, ("available", version + 1, sid, "booked", version)).rowcount != 1:
            c.execute("ROLLBACK")
            return False
        c.execute(SQL_HISTORY, (sid, version + 1, "cancel", "booked", "available", user, at,
                                rid, 0))
        c.execute("COMMIT")
        return True


def hand_sqlite_pair(path: str, slots: list[str]) -> Batch:
    SQLiteStore(path).close()  # the store's own schema, created by the store
    hand = HandSQLite(sqlite_connect(path))
    for sid in slots:
        hand.add(sid)
    turn = itertools.cycle(slots)

    def run(n: int) -> None:
        for _ in range(n):
            rid = hand.book(next(turn), "u1")
            assert rid is not None
            assert hand.cancel(rid, "u1")

    return run


# -- PostgreSQL and Redis: one raw compare-and-set round trip ---------------------------

PG_CAS = ("UPDATE bench_cas SET status = %s, version = version + 1 "
          "WHERE id = %s AND status = %s RETURNING version")


def pg_cas_pair(url: str, slots: list[str]) -> tuple[Batch, Any]:
    import psycopg

    conn = psycopg.connect(url, autocommit=True)
    conn.execute("CREATE TABLE bench_cas (id text PRIMARY KEY, status text NOT NULL, "
                 "version bigint NOT NULL)")
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO bench_cas VALUES (%s, 'available', 1)",
                        [(s,) for s in slots])
    cur = conn.cursor()
    turn = itertools.cycle(slots)

    def run(n: int) -> None:
        for _ in range(n):
            sid = next(turn)
            cur.execute(PG_CAS, ("booked", sid, "available"))
            assert cur.fetchone() is not None
            cur.execute(PG_CAS, ("available", sid, "booked"))
            assert cur.fetchone() is not None

    return run, conn


REDIS_CAS = """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= ARGV[1] then return false end
redis.call('HSET', KEYS[1], 'status', ARGV[2])
return redis.call('HINCRBY', KEYS[1], 'version', 1)
"""


def redis_cas_pair(url: str, slots: list[str]) -> tuple[Batch, Any]:
    import redis

    client = redis.Redis.from_url(url)
    sha = client.script_load(REDIS_CAS)
    keys = [f"bench-cas:{s}" for s in slots]
    for key in keys:
        client.hset(key, mapping={"status": "available", "version": 1})
    evalsha = client.evalsha
    turn = itertools.cycle(keys)

    def run(n: int) -> None:
        for _ in range(n):
            key = next(turn)
            assert evalsha(sha, 1, key, "available", "booked") is not None
            assert evalsha(sha, 1, key, "booked", "available") is not None

    return run, client


def _one(ctx: Context, kind: str) -> tuple[dict[str, Batch], list[Any]]:
    slots = [f"S{i:04d}" for i in range(ctx.counts.op_slots)]
    closers: list[Any] = []
    if kind == "memory":
        return {"slotfsm": slotfsm_pair(MemoryStore(), slots), "baseline": transitions_pair()}, []
    store, url = open_fresh_store(ctx, kind, f"op_{kind}")
    closers.append(store)
    contenders = {"slotfsm": slotfsm_pair(store, slots)}
    if kind == "sqlite":
        contenders["baseline"] = hand_sqlite_pair(str(ctx.tmp / f"{ctx.unique('hand')}.db"),
                                                  slots)
    elif kind == "postgres":
        contenders["baseline"], conn = pg_cas_pair(url, slots)
        closers.append(conn)
    else:
        contenders["baseline"], client = redis_cas_pair(url, slots)
        closers.append(client)
    return contenders, closers


def run(ctx: Context) -> dict[str, Any]:
    result = section("Whole operation: book then cancel (per operation)")
    c = ctx.counts
    for kind in ("memory", "sqlite", "postgres", "redis"):
        try:
            contenders, closers = _one(ctx, kind)
        except Skip as exc:
            log(f"operation: {exc}")
            result["notes"].append(str(exc))
            result["status"] = "partial"
            result["rows"].append({"store": STORE_NAMES[kind], "baseline": BASELINES[kind],
                                   "skipped": str(exc), "target": TARGETS[kind]})
            continue
        pairs = c.op_pairs[kind]
        log(f"operation: {STORE_NAMES[kind]} vs {BASELINES[kind]}: "
            f"{c.op_repeats} repeats x {pairs} book+cancel")
        try:
            samples = measure(contenders, n=pairs, repeats=c.op_repeats,
                              warmup=max(5, pairs // 10))
        finally:
            for obj in closers:
                obj.close()
        mine = summary([v / 2 for v in samples["slotfsm"]])
        base = summary([v / 2 for v in samples["baseline"]])
        ratio = mine["median_ns"] / base["median_ns"]
        result["rows"].append({
            "store": STORE_NAMES[kind], "baseline": BASELINES[kind],
            "slotfsm": mine, "baseline_ns": base, "ratio": ratio, "target": TARGETS[kind],
            "met": ratio <= TARGETS[kind],
        })
    return result
