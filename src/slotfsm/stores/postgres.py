"""PostgresStore: slots in PostgreSQL, on psycopg 3 and psycopg_pool.

Every commit is ONE statement, so ONE round trip: a chain of CTEs that resolves the
slot, compares, updates the slot (``version = version + 1``), closes and opens the
records, writes the history row, and returns either the applied version or what it
found. It runs in autocommit (one statement is atomic on its own), or inside the host's
transaction when the store is bound to the host's connection.

Why one statement is also race-free under READ COMMITTED: every write to a slot's
records comes with an update of the slot row that bumps its version. The statement
reads the slot and its record in one snapshot, and updates the slot only ``WHERE
version = <the version it read>``. If another writer committed after that snapshot,
PostgreSQL re-checks the row it waited for, the version differs, nothing is written,
and the store runs the statement again on a fresh snapshot. If the version still
matches, no change of the slot or its records can have been committed since the
snapshot, so what was checked is still true when it is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import select
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

try:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict
    from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "PostgresStore needs psycopg 3 and psycopg_pool, which are not installed; "
        "install them with: pip install 'slotfsm[postgres]'"
    ) from exc

from .._records import Change, HistoryEntry, Hold, Outcome, Slot, Stale, make_hold
from ..errors import InvalidInput, SlotConflict, SlotFSMError, StoreUnavailable
from ._base import Store, applied
from ._url import redact

__all__ = ["SCHEMA_VERSION", "PostgresStore"]

#: The schema version this slotfsm writes and reads.
SCHEMA_VERSION = 1

# How often one commit re-runs its statement when another writer committed between its
# snapshot and its update (each re-run sees that writer's commit, so this only bounds
# pathological contention; the manager decides again after that).
_RERUNS = 4

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PREFIX = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_]*)?\Z")
# Room kept for the longest name slotfsm derives from the prefix (PostgreSQL truncates
# the derived constraint names itself); 45-character prefixes stay accepted.
_LONGEST_SUFFIX = 18
_MAX_IDENT = 63  # PostgreSQL's NAMEDATALEN - 1

# Versioned migrations: (version, statements). Applied in order, each at most once, in
# one transaction under an advisory lock. Never edit a released entry; append one.
#
# Why the schema looks like this (measured; see docs/postgres.md, "Performance"):
#
# * The slot row names its one active record (id, kind, holder). "At most one active
#   record per slot" then holds by construction, the compare-and-set on the slot row
#   covers the record checks too, and closing needs no index lookup by status. No index
#   mentions ``records.status``, so closing a record is a HOT update, and nothing in any
#   index grows with the number of reservations ever made except their own ids.
# * ``fillfactor`` leaves room in each page, so the updates of a slot (two per booking)
#   and the one closing update of a record find space on their own page: HOT updates,
#   no new index entries, dead versions pruned in place without VACUUM.
# * No foreign keys from records and history to slots, and no CHECK constraints. An FK
#   trigger costs a query (index probe and row lock of the slot) per inserted row, and a
#   CHECK is parsed and compiled again by every statement that writes the table; both
#   guard nothing the statement does not: rows are inserted only ``FROM upd``, i.e. when
#   the slot row was just updated (so it exists and is locked), slotfsm never deletes a
#   slot, and a version is only ever 1 or the previous one + 1. tests/test_postgres.py
#   (TestIntegrity) checks it.
_MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (1, (
        """CREATE TABLE IF NOT EXISTS {slots} (
            id text PRIMARY KEY,
            status text NOT NULL,
            version bigint NOT NULL,
            active_id text,
            active_kind text,
            active_holder text
        ) WITH (fillfactor = 80)""",
        """CREATE TABLE IF NOT EXISTS {records} (
            seq bigint GENERATED ALWAYS AS IDENTITY,
            id text PRIMARY KEY,
            slot_id text NOT NULL,
            kind text NOT NULL,
            holder text NOT NULL,
            status text NOT NULL,
            created_at double precision NOT NULL,
            ended_at double precision
        ) WITH (fillfactor = 90)""",
        "CREATE INDEX IF NOT EXISTS {records_slot} ON {records} (slot_id, seq)",
        """CREATE TABLE IF NOT EXISTS {history} (
            slot_id text NOT NULL,
            version bigint NOT NULL,
            event text NOT NULL,
            source text,
            target text NOT NULL,
            actor text,
            at double precision NOT NULL,
            ref text,
            override boolean NOT NULL DEFAULT false,
            PRIMARY KEY (slot_id, version)
        )""",
    )),
)


class _Shape(NamedTuple):
    """What a Change asks for, as far as the text of its statement depends on it."""

    by_slot: bool       # the slot is given (else: the slot of the record to close)
    version: bool       # the decision read a version, which must still be current
    closes: str | None  # "id": close that record; "kind": the slot's active one
    owner: bool         # the record to close must be held by this user
    opens: bool         # a record is inserted
    oactive: bool       # ... and it is active, so the slot names it


def _commit_text(shape: _Shape) -> str:
    """The one statement (one round trip) of every non-creating commit of ``shape``.

    Every value is a bound parameter; the shape only chooses which conditions and
    which writes the statement contains. One text per shape keeps the statement free
    of ``CASE``/``OR`` switches on parameters, so its generic plan (PostgreSQL's plan
    cache settles on one after five runs of a prepared statement) is a handful of
    primary-key lookups, and a change sends only the parameters it uses.
    """
    # S608 (SQL built from strings) is silenced below: only this function's fixed
    # fragments are joined; every value is a bound parameter, names are identifiers.
    if shape.by_slot:
        slot = "%(sid)s::text"
    else:
        # A closing change that names only its record: the record's slot.
        slot = ("(SELECT r.slot_id FROM {records} r "
                "WHERE r.id = %(rid)s::text AND r.kind = %(kind)s::text)")
    # The compare: everything the change depends on is in the slot row, because the
    # slot row names its active record (id, kind, holder).
    compare = ["s.status = %(source)s::text"]
    if shape.version:
        compare.append("s.version = %(ver)s::bigint")
    if shape.closes is not None:
        compare.append("s.active_kind = %(kind)s::text")
        if shape.closes == "id":
            compare.append("s.active_id = %(rid)s::text")
        else:
            # Still the active record this statement's snapshot saw (record ids are
            # never reused), so "old" below names the record the update takes away.
            compare.append("s.active_id = (SELECT active_id FROM old)")
        if shape.owner:
            compare.append("s.active_holder = %(owner)s::text")
    elif shape.oactive:
        compare.append("s.active_id IS NULL")  # at most one active record per slot
    cond = " AND ".join(compare)
    ctes = []
    if shape.closes == "kind":
        ctes.append(f"old AS (SELECT active_id FROM {{slots}} WHERE id = {slot})")  # noqa: S608
    sets = "status = %(target)s::text, version = s.version + 1"
    if shape.oactive:
        sets += (", (active_id, active_kind, active_holder)"
                 " = (%(oid)s::text, %(okind)s::text, %(oholder)s::text)")
    elif shape.closes is not None:
        sets += ", active_id = NULL, active_kind = NULL, active_holder = NULL"
    # The compare-and-set. Under READ COMMITTED, if another writer updated the row
    # after this statement's snapshot, PostgreSQL waits for it and evaluates the
    # WHERE again on the newest row: only a row that still passes the compare is set.
    ctes.append(f"""upd AS (
    UPDATE {{slots}} s SET {sets}
    WHERE s.id = {slot} AND {cond}
    RETURNING s.id, s.version
)""")  # noqa: S608
    closed_id = "%(rid)s::text" if shape.closes == "id" else "(SELECT active_id FROM old)"
    if shape.closes is not None:
        ctes.append(f"""closed AS (
    UPDATE {{records}} r SET status = %(outcome)s::text, ended_at = %(at)s::float8
    FROM upd
    WHERE r.id = {closed_id} AND r.status = 'active'
    RETURNING r.id, r.kind, r.holder, r.created_at
)""")  # noqa: S608
    if shape.opens:
        ctes.append("""opened AS (
    INSERT INTO {records} (id, slot_id, kind, holder, status, created_at)
    SELECT %(oid)s::text, upd.id, %(okind)s::text, %(oholder)s::text, %(ostatus)s::text,
           %(ocreated)s::float8
    FROM upd
)""")
    version = "upd.version"
    if shape.closes is not None:
        # The slot named a record that was not active after all: half a change. The
        # NULL makes the NOT NULL constraint abort the whole statement instead.
        version = "CASE WHEN EXISTS (SELECT 1 FROM closed) THEN upd.version END"
    ref = "%(oid)s::text" if shape.opens else closed_id if shape.closes else "NULL"
    ctes.append(f"""hist AS (
    INSERT INTO {{history}} (slot_id, version, event, source, target, actor, at, ref, override)
    SELECT upd.id, {version}, %(event)s::text, %(source)s::text, %(target)s::text,
           %(actor)s::text, %(at)s::float8, {ref}, %(override)s::boolean
    FROM upd
    RETURNING slot_id, version
)""")  # noqa: S608
    # Not applied: what the store found, in the same snapshot, read only then (the
    # NOT EXISTS is a one-time filter: when the change applied, nothing is read).
    # The record a refused closing change looked at is the one it names (read first:
    # a change that names only its record finds the slot through it), else the slot's
    # active one of that kind.
    looked = """
LEFT JOIN LATERAL (
    SELECT r.id, r.slot_id, r.kind, r.holder, r.status, r.created_at, r.ended_at
    FROM {records} r
    WHERE NOT EXISTS (SELECT 1 FROM hist) AND %s
) AS rec ON true"""
    if shape.closes == "id" and not shape.by_slot:
        slot = "CASE WHEN rec.kind = %(kind)s::text THEN rec.slot_id END"
    found = f"""
LEFT JOIN LATERAL (
    SELECT s.id, s.status, s.version, s.active_id, s.active_kind, ({cond}) AS matched
    FROM {{slots}} s
    WHERE NOT EXISTS (SELECT 1 FROM hist) AND s.id = {slot}
) AS s ON true"""  # noqa: S608
    if shape.closes == "id":
        found = looked % "r.id = %(rid)s::text" + found
    elif shape.closes == "kind":
        found += looked % "r.id = s.active_id AND s.active_kind = %(kind)s::text"
    rec = ("rec.id, rec.slot_id, rec.kind, rec.holder, rec.status, rec.created_at, "
           "rec.ended_at" if shape.closes else "NULL, NULL, NULL, NULL, NULL, NULL, NULL")
    closed = "c.id, c.kind, c.holder, c.created_at" if shape.closes else "NULL, NULL, NULL, NULL"
    return f"""WITH {", ".join(ctes)}
SELECT h.version, h.slot_id, {closed},
       s.id, s.status, s.version, s.matched, s.active_id, s.active_kind, {rec}
FROM (SELECT 1) AS one
LEFT JOIN hist h ON true{" LEFT JOIN closed c ON true" if shape.closes else ""}{found}"""  # noqa: S608


# Creation: insert the slot and its first history row, or report the existing slot.
_CREATE = """
WITH ins AS (
    INSERT INTO {slots} (id, status, version) VALUES (%(sid)s::text, %(target)s::text, 1)
    ON CONFLICT (id) DO NOTHING
    RETURNING id
), hist AS (
    INSERT INTO {history} (slot_id, version, event, source, target, actor, at, ref, override)
    SELECT ins.id, 1, %(event)s::text, NULL, %(target)s::text, %(actor)s::text,
           %(at)s::float8, NULL, %(override)s::boolean
    FROM ins
    RETURNING version
)
SELECT (SELECT version FROM hist), s.status, s.version
FROM (SELECT 1) AS one LEFT JOIN {slots} s ON s.id = %(sid)s::text
"""

_READS = {
    "slot": "SELECT id, status, version FROM {slots} WHERE id = %s",
    # COLLATE "C": code point order, the order Python sorts str in, whatever the
    # database's default collation.
    "slots": 'SELECT id, status, version FROM {slots} ORDER BY id COLLATE "C"',
    "slots_by": 'SELECT id, status, version FROM {slots} WHERE status = %s '
                'ORDER BY id COLLATE "C"',
    "record": "SELECT id, slot_id, kind, holder, status, created_at, ended_at "
              "FROM {records} WHERE id = %s",
    "records": "SELECT id, slot_id, kind, holder, status, created_at, ended_at "
               "FROM {records} WHERE slot_id = %s ORDER BY seq",
    "history": "SELECT slot_id, version, event, source, target, actor, at, ref, override "
               "FROM {history} WHERE slot_id = %s ORDER BY version",
}

# SQLSTATE classes meaning "the server cannot serve us now; nothing was written".
_UNAVAILABLE_CLASSES = ("08", "53", "57", "58")
_URL_OPTIONS: dict[str, Any] = {
    "schema": str, "prefix": str, "min_size": int, "max_size": int, "timeout": float,
    "migrate": lambda v: _parse_bool(v),
}


def _parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def _check_names(schema: str, prefix: str) -> None:
    if not isinstance(schema, str) or not _IDENT.match(schema) or len(schema) > _MAX_IDENT:
        raise InvalidInput(
            f"schema {schema!r} must be an identifier: ASCII letters, digits and '_', "
            f"not starting with a digit, at most {_MAX_IDENT} characters"
        )
    if not isinstance(prefix, str) or not _PREFIX.match(prefix) or (
        len(prefix) + _LONGEST_SUFFIX > _MAX_IDENT
    ):
        raise InvalidInput(
            f"table prefix {prefix!r} must be ASCII letters, digits and '_', not starting "
            f"with a digit, at most {_MAX_IDENT - _LONGEST_SUFFIX} characters"
        )


def _display(conninfo: str) -> str:
    """The connection target without its password, for messages and repr."""
    if "://" in conninfo:
        return redact(conninfo)
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.Error:
        return "<malformed conninfo>"
    shown = " ".join(f"{k}={params[k]}" for k in ("host", "port", "dbname", "user")
                     if params.get(k))
    return shown or "<libpq defaults>"


def _password(conninfo: str) -> str | None:
    try:
        value = conninfo_to_dict(conninfo).get("password")
    except psycopg.Error:
        return None
    return str(value) if value else None


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _readable(conn: psycopg.Connection[Any]) -> bool:
    """True if an idle connection has something to read: the server closed it.

    An idle connection of ours receives nothing unless the server is going away
    (shutdown notice, EOF), so this finds dead pooled connections without a round trip.
    """
    try:
        fd = conn.pgconn.socket
    except psycopg.OperationalError:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    ready, _, _ = select.select([fd], [], [], 0)  # pragma: no cover - Windows
    return bool(ready)


# Bumped in a child after fork: a store compares it to find a pool inherited through
# fork without a getpid() system call per operation.
_forks = 0


def _after_fork_in_child() -> None:
    global _forks
    _forks += 1


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _ConnectState:
    """The last connection attempt's error, seen by the pool's connection class."""

    def __init__(self) -> None:
        self.error: BaseException | None = None


def _connection_class(state: _ConnectState) -> type[psycopg.Connection[Any]]:
    class Connection(psycopg.Connection[Any]):
        @classmethod
        def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
            try:
                conn = super().connect(conninfo, **kwargs)
            except psycopg.Error as exc:
                state.error = exc
                raise
            state.error = None
            return conn

    return Connection


class PostgresStore(Store):
    """A store in PostgreSQL: one statement (one round trip) per commit.

    Args:
        conninfo: A libpq URL (``postgresql://user:pw@host:5432/db``) or
            ``key=value`` string; ``None`` uses the libpq environment (``PGHOST`` …).
        pool: A ``psycopg_pool.ConnectionPool`` of the host's to use instead (not
            closed by :meth:`close`).
        connection: A host's ``psycopg.Connection``: every operation runs on it,
            inside the host's transaction; slotfsm never commits or rolls back.
        schema: The PostgreSQL schema of the tables (created if missing).
        prefix: Table name prefix, so the tables sit beside the host's own.
        min_size: Connections the pool keeps open.
        max_size: Most connections the pool opens.
        timeout: Seconds to wait for a free connection (or for the server) before
            raising :class:`~slotfsm.StoreUnavailable`.
        migrate: Create or upgrade the tables on first use (see :meth:`migrate`).

    Raises:
        InvalidInput: a malformed conninfo, schema or prefix.

    Example::

        store = PostgresStore("postgresql://app:secret@db:5432/app", schema="booking")
        mgr = SlotManager(store)
    """

    schemes = ("postgresql", "postgres")

    def __init__(
        self,
        conninfo: str | None = None,
        *,
        pool: ConnectionPool[Any] | None = None,
        connection: psycopg.Connection[Any] | None = None,
        schema: str = "public",
        prefix: str = "slotfsm_",
        min_size: int = 1,
        max_size: int = 8,
        timeout: float = 10.0,
        migrate: bool = True,
    ) -> None:
        if sum(x is not None for x in (conninfo, pool, connection)) > 1:
            raise InvalidInput("give PostgresStore one of conninfo, pool or connection")
        _check_names(schema, prefix)
        if not (isinstance(min_size, int) and isinstance(max_size, int)
                and 0 <= min_size <= max_size and max_size >= 1):
            raise InvalidInput(f"pool sizes need 0 <= min_size <= max_size, max_size >= 1; "
                               f"got min_size={min_size!r}, max_size={max_size!r}")
        if not isinstance(timeout, int | float) or not timeout > 0:
            raise InvalidInput(f"timeout must be a positive number of seconds, not {timeout!r}")
        self.schema = schema
        self.prefix = prefix
        self.min_size = min_size
        self.max_size = max_size
        self.timeout = float(timeout)
        self._conninfo = "" if conninfo is None else conninfo
        self._host_pool = pool
        self._host_conn = connection
        if not isinstance(self._conninfo, str):
            raise InvalidInput(f"conninfo must be a string, not {type(conninfo).__name__}")
        if self._conninfo:
            try:
                conninfo_to_dict(self._conninfo)
            except psycopg.Error as exc:
                raise InvalidInput(
                    f"malformed PostgreSQL conninfo {_display(self._conninfo)!r}: "
                    f"{self._scrub(_first_line(exc))}"
                ) from None
        if pool is not None and isinstance(pool.conninfo, str):
            self._shown = _display(pool.conninfo)
        elif connection is not None:
            self._shown = "<host connection>"
        else:
            self._shown = _display(self._conninfo)
        self._pool: ConnectionPool[Any] | None = None
        self._pool_pid = 0
        self._pool_forks = -1
        self._orphans: list[ConnectionPool[Any]] = []
        self._connect_state = _ConnectState()
        self._closed = False
        self._lock = threading.Lock()  # guards the pool
        self._migrate_lock = threading.Lock()
        self._migrate = migrate
        self._migrated = False
        self._lock_key = int.from_bytes(
            hashlib.blake2b(f"slotfsm:{schema}".encode(), digest_size=8).digest(),
            "big", signed=True,
        )
        names = {
            "slots": sql.Identifier(schema, f"{prefix}slots"),
            "records": sql.Identifier(schema, f"{prefix}records"),
            "history": sql.Identifier(schema, f"{prefix}history"),
            "version_table": sql.Identifier(schema, f"{prefix}schema_version"),
            "records_slot": sql.Identifier(f"{prefix}records_slot"),
        }
        self._names = names

        def compose(text: str) -> str:
            return sql.SQL(text).format(**{k: v for k, v in names.items()
                                          if "{" + k + "}" in text}).as_string(None)

        self._compose = compose
        self._commit_sql: dict[_Shape, str] = {}
        self._create_sql = compose(_CREATE)
        self._reads = {key: compose(text) for key, text in _READS.items()}
        self._migrations = tuple((v, tuple(compose(s) for s in stmts))
                                 for v, stmts in _MIGRATIONS)
        self._version_table_sql = compose(
            "CREATE TABLE IF NOT EXISTS {version_table} ("
            "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        self._version_read_sql = compose("SELECT max(version) FROM {version_table}")
        self._version_write_sql = compose("INSERT INTO {version_table} (version) VALUES (%s)")
        self._version_table_name = names["version_table"].as_string(None)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PostgresStore:
        """Open a store from a ``postgresql://`` or ``postgres://`` URL.

        Query options ``schema``, ``prefix``, ``min_size``, ``max_size``, ``timeout``
        and ``migrate`` configure the store; every other one goes to libpq
        (``sslmode``, ``application_name``, ``connect_timeout`` …). Keyword
        ``options`` win over the URL's.

        Example::

            PostgresStore.from_url("postgresql://app:pw@db/app?schema=booking&timeout=2")
        """
        if not isinstance(url, str):
            raise InvalidInput(f"store URL must be a string, not {type(url).__name__}")
        try:
            parts = urlsplit(url)
        except ValueError:
            raise InvalidInput(f"malformed PostgreSQL URL {redact(url)!r}") from None
        if parts.scheme.lower() not in cls.schemes:
            raise InvalidInput(f"not a PostgreSQL URL: {redact(url)!r}")
        passed = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key in _URL_OPTIONS:
                try:
                    options.setdefault(key, _URL_OPTIONS[key](value))
                except ValueError:
                    raise InvalidInput(
                        f"PostgreSQL URL option {key}={value!r} is malformed"
                    ) from None
            else:
                passed.append((key, value))
        conninfo = urlunsplit(parts._replace(query=urlencode(passed)))
        return cls(conninfo, **options)

    def __repr__(self) -> str:
        return (f"PostgresStore({self._shown!r}, schema={self.schema!r}, "
                f"prefix={self.prefix!r})")

    # -- embedding -----------------------------------------------------------------------

    def bind(self, connection: psycopg.Connection[Any]) -> PostgresStore:
        """A store over the same tables that runs on the host's ``connection``.

        Every operation of the returned store runs on ``connection``, inside whatever
        transaction the host has open there; slotfsm never commits or rolls back, so a
        slot change commits or rolls back with the host's own writes. Its ``close()``
        leaves the connection open.

        Example::

            with host_conn.transaction(), store.bind(host_conn) as bound:
                SlotManager(bound).book("A1", user="u1")
                host_conn.execute("INSERT INTO invoices ...")
        """
        bound = PostgresStore(connection=connection, schema=self.schema, prefix=self.prefix,
                              timeout=self.timeout, migrate=self._migrate)
        bound._migrated = self._migrated
        return bound

    # -- schema --------------------------------------------------------------------------

    def migrate(self) -> int:
        """Create or upgrade the tables; return the schema version left in the database.

        Idempotent and safe to run from many processes at once: it runs in one
        transaction under ``pg_advisory_xact_lock``, and applies each versioned step
        (recorded in ``{prefix}schema_version``) at most once. On a host connection it
        runs in a savepoint of the host's transaction if one is open.

        Raises:
            SlotFSMError: the database has a newer schema than this slotfsm knows.
            StoreUnavailable: the server cannot be reached.
        """
        with self._session() as conn:
            try:
                with conn.transaction():
                    version = self._migrate_on(conn)
            except psycopg.Error as exc:
                raise self._translate(exc) from None
        self._migrated = True
        return version

    def _migrate_on(self, conn: psycopg.Connection[Any]) -> int:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
        exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                              (self.schema,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
        conn.execute(self._version_table_sql)
        row = conn.execute(self._version_read_sql).fetchone()
        current = int(row[0]) if row is not None and row[0] is not None else 0
        if current > SCHEMA_VERSION:
            raise SlotFSMError(
                f"PostgreSQL schema {self.schema!r} (prefix {self.prefix!r}) at "
                f"{self._shown} has slotfsm schema version {current}, newer than this "
                f"slotfsm supports ({SCHEMA_VERSION}); upgrade slotfsm"
            )
        for version, statements in self._migrations:
            if version > current:
                for statement in statements:
                    conn.execute(statement)
                conn.execute(self._version_write_sql, (version,))
        return max(current, SCHEMA_VERSION)

    def _ensure_schema(self) -> None:
        if self._migrated or not self._migrate:
            return
        with self._migrate_lock:
            if not self._migrated:
                self.migrate()

    # -- connections ---------------------------------------------------------------------

    def _get_pool(self) -> ConnectionPool[Any]:
        if self._host_pool is not None:
            return self._host_pool
        pool = self._pool
        if pool is not None and self._pool_forks == _forks:
            return pool
        pid = os.getpid()
        with self._lock:
            if self._closed:
                raise SlotFSMError(f"{self!r} is closed")
            if self._pool is not None and self._pool_pid == pid:
                self._pool_forks = _forks
                return self._pool
            if self._pool is not None:
                # Inherited through fork: its threads are gone and its connections are
                # the parent's. Never touch or close them (closing would end the
                # parent's sessions); keep a reference so they are never collected.
                self._orphans.append(self._pool)
            self._pool = ConnectionPool(
                self._conninfo,
                connection_class=_connection_class(self._connect_state),
                kwargs={"autocommit": True},
                min_size=self.min_size,
                max_size=self.max_size,
                timeout=self.timeout,
                # Give up a reconnection cycle soon, so the next request starts a
                # fresh one with a short delay and a restarted server is found fast.
                reconnect_timeout=max(5.0, self.timeout),
                name=f"slotfsm-{self.schema}.{self.prefix}",
                open=True,
            )
            self._pool_pid = pid
            self._pool_forks = _forks
            return self._pool

    @contextlib.contextmanager
    def _session(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for one operation: the host's, or a live one from the pool."""
        conn, pool, restore = self._acquire()
        try:
            yield conn
        finally:
            self._release(conn, pool, restore)

    def _acquire(self) -> tuple[psycopg.Connection[Any], ConnectionPool[Any] | None, bool]:
        """The connection, the pool to give it back to, whether to restore autocommit."""
        if self._host_conn is not None:
            return self._host_conn, None, False
        pool = self._get_pool()
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                conn = pool.getconn(timeout=max(deadline - time.monotonic(), 0.0))
            except PoolTimeout:
                raise self._timeout_error(pool) from None
            except PoolClosed:
                raise SlotFSMError(f"{self!r} is closed") from None
            if not _readable(conn):
                break
            # Closed by the server while idle (restart, admin shutdown): drop it;
            # the pool replaces it. Nothing was sent on it.
            conn.close()
            pool.putconn(conn)
        restore = not conn.autocommit  # a host pool's connection: no implicit BEGIN
        if restore:
            conn.autocommit = True
        return conn, pool, restore

    @staticmethod
    def _release(conn: psycopg.Connection[Any], pool: ConnectionPool[Any] | None,
                 restore: bool) -> None:
        if pool is None:
            return
        if restore and not conn.closed:
            with contextlib.suppress(psycopg.Error):
                conn.autocommit = False
        pool.putconn(conn)

    def _timeout_error(self, pool: ConnectionPool[Any]) -> StoreUnavailable:
        error = self._connect_state.error
        if error is not None and pool is self._pool:
            return StoreUnavailable(
                f"cannot connect to PostgreSQL at {self._shown} (waited {self.timeout:g} s): "
                f"{self._scrub(_first_line(error))}"
            )
        return StoreUnavailable(
            f"no PostgreSQL connection free within {self.timeout:g} s "
            f"(pool max_size={pool.max_size}) at {self._shown}"
        )

    def _scrub(self, message: str) -> str:
        for source in (self._conninfo, getattr(self._host_pool, "conninfo", None)):
            if isinstance(source, str) and source:
                secret = _password(source)
                if secret:
                    message = message.replace(secret, "***")
        return redact(message) if "://" in message else message

    def _translate(self, exc: psycopg.Error, slot_id: str | None = None,
                   event: str | None = None) -> SlotFSMError:
        """Map a driver error to the slotfsm error a host can act on."""
        message = self._scrub(_first_line(exc))
        state = exc.sqlstate or ""
        where = f"PostgreSQL at {self._shown}"
        if state == "42P01":
            self._migrated = False
            return SlotFSMError(
                f"slotfsm tables missing in schema {self.schema!r} (prefix {self.prefix!r}) "
                f"at {self._shown}; run `slotfsm migrate --store URL` or store.migrate(): "
                f"{message}"
            )
        if state.startswith("23"):
            return SlotConflict(f"the database refused the change: {message}",
                                slot_id=slot_id, event=event)
        if state in ("40001", "40P01"):
            return SlotConflict(
                f"Slot {slot_id} changed in a concurrent transaction; try again: {message}",
                slot_id=slot_id, event=event,
            )
        if state.startswith(("22", "54")) or (not state and isinstance(exc, psycopg.DataError)):
            return InvalidInput(f"{where} refused a value: {message}",
                                slot_id=slot_id, event=event)
        lost = isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
        if state[:2] in _UNAVAILABLE_CLASSES or state == "55P03" or (not state and lost):
            return StoreUnavailable(f"{where} is unavailable: {message}",
                                    slot_id=slot_id, event=event)
        return SlotFSMError(f"{where} failed: {message}", slot_id=slot_id, event=event)

    def _query(self, query: str, params: Sequence[Any] | dict[str, Any],
               slot_id: str | None = None, event: str | None = None) -> list[tuple[Any, ...]]:
        """Run one statement, in one round trip, and return its rows."""
        self._ensure_schema()
        for attempt in range(_RERUNS):
            # _acquire/_release rather than _session: no generator on the hot path.
            conn, pool, restore = self._acquire()
            try:
                return conn.execute(query, params).fetchall()
            except psycopg.Error as exc:
                # A serialization failure or deadlock in autocommit wrote nothing (a
                # server defaulting to SERIALIZABLE): run it again. Inside a host's
                # transaction it is the host's to retry.
                if (exc.sqlstate in ("40001", "40P01") and self._host_conn is None
                        and attempt + 1 < _RERUNS):
                    continue
                raise self._translate(exc, slot_id, event) from None
            finally:
                self._release(conn, pool, restore)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- writing -------------------------------------------------------------------------

    def commit(self, change: Change) -> Outcome:
        if change.source is None:
            return self._create(change)
        closes = change.closes
        opens = change.opens
        shape = _Shape(
            change.slot_id is not None,
            change.version is not None,
            None if closes is None else "kind" if closes.record_id is None else "id",
            closes is not None and closes.owner is not None,
            opens is not None,
            opens is not None and opens.active,
        )
        query = self._commit_sql.get(shape)
        if query is None:
            if not shape.by_slot and shape.closes != "id":
                raise InvalidInput("a change without a slot id must close a record by id",
                                   event=change.event)
            query = self._commit_sql[shape] = self._compose(_commit_text(shape))
        # Only the parameters the statement of this shape names.
        params: dict[str, Any] = {
            "source": change.source, "target": change.target, "event": change.event,
            "actor": change.user, "at": change.at, "override": change.override,
        }
        if shape.by_slot:
            params["sid"] = change.slot_id
        if shape.version:
            params["ver"] = change.version
        if closes is not None:
            params["kind"] = closes.kind
            params["outcome"] = closes.outcome
            if closes.record_id is not None:
                params["rid"] = closes.record_id
            if closes.owner is not None:
                params["owner"] = closes.owner
        if opens is not None:
            params.update(oid=opens.id, okind=opens.kind, oholder=opens.user,
                          ostatus=opens.status, ocreated=opens.created_at)
        for attempt in range(_RERUNS):
            (version, slot_id, closed_id, kind, holder, created_at, found_id, status,
             slot_version, matched, active_id, active_kind, *rec) = self._query(
                query, params, change.slot_id, change.event)[0]
            if version is not None:
                closed = None
                if closes is not None:
                    closed = make_hold(kind, closed_id, slot_id, holder, closes.outcome,
                                       created_at, change.at)
                return applied(change, slot_id, int(version), opens, closed)
            if found_id is None and change.slot_id is None:
                return Stale(None, None)  # no such record, or one of another kind
            if matched and attempt + 1 < _RERUNS:
                continue  # another writer committed after our snapshot: look again
            if (matched is False and shape.oactive and closes is None
                    and active_id is not None and status == change.source
                    and change.version in (None, slot_version)):
                # Only a change no lifecycle decides (see Lifecycle's hold rules).
                raise SlotConflict(
                    f"slot {change.slot_id} already has an active {active_kind} "
                    f"{active_id}; refusing to open another",
                    slot_id=change.slot_id, event=change.event)
            slot = None
            if status is not None:
                slot = Slot(found_id, status, int(slot_version))
            record = None
            if closes is not None and rec[0] is not None:
                record = make_hold(rec[2], rec[0], rec[1], rec[3], rec[4], rec[5], rec[6])
            return Stale(slot, record)
        raise AssertionError("unreachable")  # pragma: no cover

    def _create(self, change: Change) -> Outcome:
        assert change.slot_id is not None
        params = {"sid": change.slot_id, "target": change.target, "event": change.event,
                  "actor": change.user, "at": change.at, "override": change.override}
        for _ in range(_RERUNS):
            version, status, slot_version = self._query(
                self._create_sql, params, change.slot_id, change.event)[0]
            if version is not None:
                return applied(change, change.slot_id, 1, None, None)
            if status is not None:
                return Stale(Slot(change.slot_id, status, int(slot_version)))
            # Created by a transaction that committed after our snapshot: look again.
        return Stale(self.slot(change.slot_id))

    # -- reading -------------------------------------------------------------------------

    def slot(self, slot_id: str) -> Slot | None:
        rows = self._query(self._reads["slot"], (slot_id,), slot_id)
        return Slot(rows[0][0], rows[0][1], int(rows[0][2])) if rows else None

    def slots(self, status: str | None = None) -> list[Slot]:
        if status is None:
            rows = self._query(self._reads["slots"], ())
        else:
            rows = self._query(self._reads["slots_by"], (status,))
        return [Slot(r[0], r[1], int(r[2])) for r in rows]

    def record(self, record_id: str) -> Hold | None:
        rows = self._query(self._reads["record"], (record_id,))
        return _hold(rows[0]) if rows else None

    def records(self, slot_id: str) -> list[Hold]:
        return [_hold(r) for r in self._query(self._reads["records"], (slot_id,), slot_id)]

    def history(self, slot_id: str) -> list[HistoryEntry]:
        return [
            HistoryEntry(r[0], int(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]))
            for r in self._query(self._reads["history"], (slot_id,), slot_id)
        ]

    def close(self) -> None:
        """Close the pool this store opened (a host's pool or connection stays open)."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None and self._pool_pid == os.getpid():
            pool.close()


def _hold(r: tuple[Any, ...]) -> Hold:
    return make_hold(r[2], r[0], r[1], r[3], r[4], r[5], r[6])

