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
from typing import Any, Self
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
_LONGEST_SUFFIX = len("records_one_active")
_MAX_IDENT = 63  # PostgreSQL's NAMEDATALEN - 1

# Versioned migrations: (version, statements). Applied in order, each at most once, in
# one transaction under an advisory lock. Never edit a released entry; append one.
_MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (1, (
        """CREATE TABLE IF NOT EXISTS {slots} (
            id text PRIMARY KEY,
            status text NOT NULL,
            version bigint NOT NULL CHECK (version >= 1)
        )""",
        """CREATE TABLE IF NOT EXISTS {records} (
            seq bigint GENERATED ALWAYS AS IDENTITY,
            id text PRIMARY KEY,
            slot_id text NOT NULL REFERENCES {slots} (id),
            kind text NOT NULL,
            holder text NOT NULL,
            status text NOT NULL,
            created_at double precision NOT NULL,
            ended_at double precision
        )""",
        "CREATE INDEX IF NOT EXISTS {records_slot} ON {records} (slot_id, seq)",
        # The database itself refuses a second active record of one kind on one slot.
        """CREATE UNIQUE INDEX IF NOT EXISTS {records_one_active}
            ON {records} (slot_id, kind) WHERE status = 'active'""",
        """CREATE TABLE IF NOT EXISTS {history} (
            slot_id text NOT NULL REFERENCES {slots} (id),
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

# The one statement of every non-creating commit. Parameters are named; every value is
# bound, never formatted in. Casts give NULL parameters a type.
_COMMIT = """
WITH tgt AS (
    SELECT COALESCE(%(sid)s::text,
                    (SELECT r.slot_id FROM {records} r
                     WHERE r.id = %(rid)s::text AND r.kind = %(kind)s::text)) AS slot_id
), cur AS (
    SELECT s.id, s.status, s.version FROM {slots} s JOIN tgt ON s.id = tgt.slot_id
), rec AS (
    SELECT r.id, r.slot_id, r.kind, r.holder, r.status, r.created_at, r.ended_at
    FROM {records} r
    WHERE %(closes)s::boolean AND CASE
        WHEN %(rid)s::text IS NOT NULL THEN r.id = %(rid)s::text
        ELSE r.slot_id = (SELECT slot_id FROM tgt) AND r.kind = %(kind)s::text
             AND r.status = 'active' END
), ok AS (
    SELECT cur.id, cur.version FROM cur
    WHERE cur.status = %(source)s::text
      AND (%(ver)s::bigint IS NULL OR cur.version = %(ver)s::bigint)
      AND (NOT %(closes)s::boolean OR EXISTS (
          SELECT 1 FROM rec
          WHERE rec.slot_id = cur.id AND rec.kind = %(kind)s::text AND rec.status = 'active'
            AND (%(owner)s::text IS NULL OR rec.holder = %(owner)s::text)))
), upd AS (
    -- Re-checked on the newest row if another writer got there first: the compare.
    UPDATE {slots} s SET status = %(target)s::text, version = s.version + 1
    FROM ok
    WHERE s.id = ok.id AND s.version = ok.version AND s.status = %(source)s::text
    RETURNING s.id, s.version
), closed AS (
    UPDATE {records} r SET status = %(outcome)s::text, ended_at = %(at)s::float8
    FROM upd, rec
    WHERE r.id = rec.id AND r.status = 'active'
    RETURNING r.id
), opened AS (
    INSERT INTO {records} (id, slot_id, kind, holder, status, created_at)
    SELECT %(oid)s::text, upd.id, %(okind)s::text, %(oholder)s::text, %(ostatus)s::text,
           %(ocreated)s::float8
    FROM upd WHERE %(opens)s::boolean
    RETURNING id
), hist AS (
    INSERT INTO {history} (slot_id, version, event, source, target, actor, at, ref, override)
    SELECT upd.id,
           -- A record to close that was not closed would be half a change: the NULL
           -- makes the NOT NULL constraint abort the whole statement instead.
           CASE WHEN %(closes)s::boolean AND NOT EXISTS (SELECT 1 FROM closed)
                THEN NULL ELSE upd.version END,
           %(event)s::text, %(source)s::text, %(target)s::text, %(actor)s::text,
           %(at)s::float8, COALESCE(%(oid)s::text, (SELECT id FROM rec)),
           %(override)s::boolean
    FROM upd
    RETURNING version
)
SELECT (SELECT version FROM hist), (SELECT slot_id FROM tgt), EXISTS (SELECT 1 FROM ok),
       cur.status, cur.version,
       rec.id, rec.slot_id, rec.kind, rec.holder, rec.status, rec.created_at, rec.ended_at
FROM (SELECT 1) AS one LEFT JOIN cur ON true LEFT JOIN rec ON true
"""

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
            "records_one_active": sql.Identifier(f"{prefix}records_one_active"),
        }
        self._names = names

        def compose(text: str) -> str:
            return sql.SQL(text).format(**{k: v for k, v in names.items()
                                          if "{" + k + "}" in text}).as_string(None)

        self._commit_sql = compose(_COMMIT)
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
        pid = os.getpid()
        pool = self._pool
        if pool is not None and self._pool_pid == pid:
            return pool
        with self._lock:
            if self._closed:
                raise SlotFSMError(f"{self!r} is closed")
            if self._pool is not None and self._pool_pid == pid:
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
            return self._pool

    @contextlib.contextmanager
    def _session(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for one operation: the host's, or a live one from the pool."""
        if self._host_conn is not None:
            yield self._host_conn
            return
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
        try:
            yield conn
        finally:
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
            with self._session() as conn:
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
        raise AssertionError("unreachable")  # pragma: no cover

    # -- writing -------------------------------------------------------------------------

    def commit(self, change: Change) -> Outcome:
        if change.source is None:
            return self._create(change)
        closes = change.closes
        opens = change.opens
        params: dict[str, Any] = {
            "sid": change.slot_id,
            "rid": closes.record_id if closes is not None else None,
            "kind": closes.kind if closes is not None else None,
            "closes": closes is not None,
            "outcome": closes.outcome if closes is not None else None,
            "owner": closes.owner if closes is not None else None,
            "source": change.source,
            "ver": change.version,
            "target": change.target,
            "at": change.at,
            "opens": opens is not None,
            "oid": opens.id if opens is not None else None,
            "okind": opens.kind if opens is not None else None,
            "oholder": opens.user if opens is not None else None,
            "ostatus": opens.status if opens is not None else None,
            "ocreated": opens.created_at if opens is not None else None,
            "event": change.event,
            "actor": change.user,
            "override": change.override,
        }
        for attempt in range(_RERUNS):
            rows = self._query(self._commit_sql, params, change.slot_id, change.event)
            (version, slot_id, matched, status, slot_version, *rec) = rows[0]
            if version is not None:
                closed = None
                if closes is not None:
                    closed = make_hold(rec[2], rec[0], rec[1], rec[3], closes.outcome,
                                       rec[5], change.at)
                return applied(change, slot_id, int(version), opens, closed)
            if slot_id is None and change.slot_id is None:
                return Stale(None, None)  # no such record, or one of another kind
            if matched and attempt + 1 < _RERUNS:
                continue  # another writer committed after our snapshot: look again
            slot = Slot(slot_id, status, int(slot_version)) if status is not None else None
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

