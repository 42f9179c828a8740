"""SQLiteStore: the embedded default, on the standard library's sqlite3.

Every commit is one ``BEGIN IMMEDIATE`` transaction (the write lock is taken before
anything is read, so a compare and its write can never interleave with another
process), in WAL mode with a busy timeout, so several threads and processes can share
one file. Schema is created, and its version recorded in the ``<prefix>schema`` table,
on first open.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal

from .._records import Applied, Change, HistoryEntry, Hold, Outcome, Slot, Stale, make_hold
from ..errors import InvalidInput, SlotConflict, SlotFSMError, StoreUnavailable
from ._base import Store, applied, closes_ok

__all__ = ["SQLiteStore"]


class _Shared:
    """A plain attribute holder (like threading.local, but shared by all threads)."""

    conn: sqlite3.Connection | None = None
    pid: int = 0


def _hold(row: Any) -> Hold:
    """A record from ``id, slot_id, kind, holder, status, created_at, ended_at``."""
    return make_hold(row[2], row[0], row[1], row[3], row[4], row[5], row[6])


SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {p}slots (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS {p}records (
    id TEXT PRIMARY KEY,
    slot_id TEXT NOT NULL REFERENCES {p}slots (id),
    kind TEXT NOT NULL,
    holder TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    ended_at REAL
);
CREATE INDEX IF NOT EXISTS {p}records_slot ON {p}records (slot_id);
-- The database itself refuses a second active record of one kind on one slot.
CREATE UNIQUE INDEX IF NOT EXISTS {p}records_one_active
    ON {p}records (slot_id, kind) WHERE status = 'active';
CREATE TABLE IF NOT EXISTS {p}history (
    slot_id TEXT NOT NULL REFERENCES {p}slots (id),
    version INTEGER NOT NULL,
    event TEXT NOT NULL,
    source TEXT,
    target TEXT NOT NULL,
    actor TEXT,
    at REAL NOT NULL,
    ref TEXT,
    override INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (slot_id, version)
) WITHOUT ROWID;
"""


def _check_prefix(prefix: str) -> str:
    if not prefix.replace("_", "").isalnum() or not prefix.isascii() or prefix[:1].isdigit():
        raise InvalidInput(f"table prefix {prefix!r} must be ASCII letters, digits and '_'")
    return prefix


class SQLiteStore(Store):
    """A store in one SQLite file (or ``":memory:"``, private to one connection).

    Args:
        path: The database file; created if missing.
        synchronous: ``"NORMAL"`` (default; WAL makes it safe against corruption, a power
            cut may lose the last commits) or ``"FULL"`` (every commit is durable).
        timeout: Seconds to wait for another writer before failing with
            :class:`~slotfsm.StoreUnavailable`.
        prefix: Table name prefix, so the tables sit beside the host's own.

    Example::

        >>> import tempfile, os
        >>> from slotfsm import SQLiteStore, SlotManager
        >>> path = os.path.join(tempfile.mkdtemp(), "slots.db")
        >>> mgr = SlotManager(SQLiteStore(path))
        >>> mgr.add_slot("A1").status
        'available'
    """

    schemes = ("sqlite",)

    def __init__(
        self,
        path: str | os.PathLike[str] = "slots.db",
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        timeout: float = 30.0,
        prefix: str = "slotfsm_",
    ) -> None:
        if str(synchronous).upper() not in ("NORMAL", "FULL"):
            raise InvalidInput(f"synchronous must be 'NORMAL' or 'FULL', not {synchronous!r}")
        self.path = os.fspath(path)
        self.synchronous = str(synchronous).upper()
        self.timeout = float(timeout)
        self.prefix = _check_prefix(prefix)
        self._local = threading.local()
        p = self.prefix
        self._sql = {
            "record": f"SELECT id, slot_id, kind, holder, status, created_at, ended_at "
                      f"FROM {p}records WHERE id = ?",
            "active": f"SELECT id, slot_id, kind, holder, status, created_at, ended_at "
                      f"FROM {p}records WHERE slot_id = ? AND kind = ? AND status = 'active'",
            "records": f"SELECT id, slot_id, kind, holder, status, created_at, ended_at "
                       f"FROM {p}records WHERE slot_id = ? ORDER BY created_at, rowid",
            "slot": f"SELECT id, status, version FROM {p}slots WHERE id = ?",
            "slots": f"SELECT id, status, version FROM {p}slots ORDER BY id",
            "slots_by": f"SELECT id, status, version FROM {p}slots WHERE status = ? ORDER BY id",
            "insert_slot": f"INSERT INTO {p}slots (id, status, version) VALUES (?, ?, 1) "
                           f"ON CONFLICT (id) DO NOTHING",
            "cas": f"UPDATE {p}slots SET status = ?, version = version + 1 "
                   f"WHERE id = ? AND status = ? RETURNING version",
            "cas_version": f"UPDATE {p}slots SET status = ?, version = version + 1 "
                           f"WHERE id = ? AND status = ? AND version = ? RETURNING version",
            "close": f"UPDATE {p}records SET status = ?, ended_at = ? "
                     f"WHERE id = ? AND status = 'active'",
            "open": f"INSERT INTO {p}records (id, slot_id, kind, holder, status, created_at) "
                    f"VALUES (?, ?, ?, ?, 'active', ?)",
            "history": f"INSERT INTO {p}history "
                       f"(slot_id, version, event, source, target, actor, at, ref, override) "
                       f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            "read_history": f"SELECT slot_id, version, event, source, target, actor, at, ref, "
                            f"override FROM {p}history WHERE slot_id = ? ORDER BY version",
        }
        self._opened: list[tuple[int, sqlite3.Connection]] = []
        self._memory_local = _Shared()
        self._serial: AbstractContextManager[Any] = (
            threading.RLock() if self.path == ":memory:" else nullcontext()
        )
        self._opened_lock = threading.Lock()
        self.migrate()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, synchronous={self.synchronous!r})"

    # -- connections ---------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        # One connection per thread and per process: sqlite3 connections must not cross
        # threads, and one inherited through fork must never be used by the child.
        # A ":memory:" database lives in its one connection: all threads share it, one
        # at a time (see _serial).
        local = self._local if self.path != ":memory:" else self._memory_local
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is not None and local.pid == os.getpid():
            return conn
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open SQLite database {self.path!r}: {exc}") from None
        local.conn = conn
        local.pid = os.getpid()
        with self._opened_lock:
            self._opened.append((local.pid, conn))
        return conn

    def migrate(self) -> int:
        """Create or upgrade the schema (idempotent); return the schema version."""
        # The version lives in a table of this prefix's own, not in PRAGMA user_version:
        # several prefixes (and the host's own schema) may share one file.
        p = self.prefix
        with self._serial, self._transaction(self._conn()) as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {p}schema (version INTEGER NOT NULL)")
            row = conn.execute(f"SELECT max(version) FROM {p}schema").fetchone()
            version = row[0] or 0
            if version > SCHEMA_VERSION:
                raise SlotFSMError(
                    f"SQLite database {self.path!r} has slotfsm schema version {version} "
                    f"(prefix {p!r}), newer than this slotfsm supports ({SCHEMA_VERSION}); "
                    "upgrade slotfsm"
                )
            if version < SCHEMA_VERSION:
                for statement in _SCHEMA.format(p=p).split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"INSERT INTO {p}schema (version) VALUES (?)", (SCHEMA_VERSION,))
        return SCHEMA_VERSION

    class _transaction:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def __enter__(self) -> sqlite3.Connection:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"SQLite database is busy: {exc}") from None
            return self.conn

        def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
            self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")

    # -- writing -------------------------------------------------------------------------

    def commit(self, change: Change) -> Outcome:
        with self._serial:
            return self._commit(change)

    def _commit(self, change: Change) -> Outcome:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite database is busy: {exc}") from None
        try:
            outcome = self._apply(conn, change)
        except sqlite3.IntegrityError as exc:
            conn.execute("ROLLBACK")
            raise SlotConflict(f"the database refused the change: {exc}",
                               slot_id=change.slot_id, event=change.event) from None
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT" if isinstance(outcome, Applied) else "ROLLBACK")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreUnavailable(f"SQLite commit failed: {exc}") from None
        return outcome

    def _apply(self, conn: sqlite3.Connection, change: Change) -> Outcome:
        # Runs inside BEGIN IMMEDIATE: nobody else writes until we commit or roll back.
        sql = self._sql
        closes = change.closes
        slot_id = change.slot_id
        record = None
        if closes is not None:
            if closes.record_id is not None:
                record = self._read_record(conn, closes.record_id)
                if slot_id is None:
                    if record is None or record.kind != closes.kind:
                        return Stale(None, None)
                    slot_id = record.slot_id
            else:
                assert slot_id is not None
                row = conn.execute(sql["active"], (slot_id, closes.kind)).fetchone()
                record = _hold(row) if row is not None else None
        assert slot_id is not None
        if change.source is None:
            if conn.execute(sql["insert_slot"], (slot_id, change.target)).rowcount != 1:
                return Stale(self._read_slot(conn, slot_id))
            result = applied(change, slot_id, 1, None, None)
            self._write_history(conn, result)
            return result
        if closes is not None and not closes_ok(change, record, slot_id):
            return Stale(self._read_slot(conn, slot_id), record)
        # The compare-and-set: status, and version whenever the decision saw one.
        if change.version is None:
            row = conn.execute(sql["cas"], (change.target, slot_id, change.source)).fetchone()
        else:
            row = conn.execute(sql["cas_version"], (change.target, slot_id, change.source,
                                                    change.version)).fetchone()
        if row is None:
            return Stale(self._read_slot(conn, slot_id), record)
        version = row[0]
        closed = None
        if closes is not None:
            assert record is not None
            conn.execute(sql["close"], (closes.outcome, change.at, record.id))
            closed = make_hold(record.kind, record.id, slot_id, record.user,
                               closes.outcome, record.created_at, change.at)
        opened = change.opens
        if opened is not None:
            conn.execute(sql["open"], (opened.id, slot_id, opened.kind, opened.user,
                                       opened.created_at))
        result = applied(change, slot_id, version, opened, closed)
        self._write_history(conn, result)
        return result

    def _write_history(self, conn: sqlite3.Connection, result: Applied) -> None:
        # From the Applied's fields, not its lazily built HistoryEntry: nobody reads that.
        c = result.change
        conn.execute(self._sql["history"], (result.slot_id, result.version, c.event, c.source,
                                            c.target, c.user, c.at, result.ref,
                                            int(c.override)))

    def _read_slot(self, conn: sqlite3.Connection, slot_id: str) -> Slot | None:
        row = conn.execute(self._sql["slot"], (slot_id,)).fetchone()
        return Slot(*row) if row is not None else None

    def _read_record(self, conn: sqlite3.Connection, record_id: str) -> Hold | None:
        row = conn.execute(self._sql["record"], (record_id,)).fetchone()
        return _hold(row) if row is not None else None

    # -- reading -------------------------------------------------------------------------

    def _read(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            with self._serial:
                return self._conn().execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite read failed: {exc}") from None

    def slot(self, slot_id: str) -> Slot | None:
        rows = self._read(self._sql["slot"], (slot_id,))
        return Slot(*rows[0]) if rows else None

    def slots(self, status: str | None = None) -> list[Slot]:
        if status is None:
            return [Slot(*r) for r in self._read(self._sql["slots"], ())]
        return [Slot(*r) for r in self._read(self._sql["slots_by"], (status,))]

    def record(self, record_id: str) -> Hold | None:
        rows = self._read(self._sql["record"], (record_id,))
        if not rows:
            return None
        return _hold(rows[0])

    def records(self, slot_id: str) -> list[Hold]:
        return [_hold(r) for r in self._read(self._sql["records"], (slot_id,))]

    def history(self, slot_id: str) -> list[HistoryEntry]:
        return [HistoryEntry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]))
                for r in self._read(self._sql["read_history"], (slot_id,))]

    def close(self) -> None:
        pid = os.getpid()
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for owner, conn in opened:
            if owner == pid:  # never touch a connection inherited through fork
                conn.close()
        self._local = threading.local()
        self._memory_local = _Shared()
