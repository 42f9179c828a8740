"""Throwaway PostgreSQL servers for the tests, started from the Debian binaries.

A pytest plugin (listed in ``conftest.pytest_plugins``). One cluster per session (per
xdist worker): a temporary data directory, listening only on 127.0.0.1 on a free port,
its unix socket in the temporary directory, fsync off (safe while the OS does not crash).
``synchronous_commit`` stays on: with it off, ``pg_ctl stop -m immediate`` loses commits
already acknowledged, and the fault tests would rightly fail. PostgreSQL refuses to run as
root, so as root the binaries run as the ``postgres`` system user. Tests connect as a
password-bearing role, so that redaction of the password is testable.

Without the binaries the fixtures skip, or fail under ``SLOTFSM_REQUIRE_SERVERS=1``.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ADMIN = "slotfsm_admin"
ROLE = "slotfsm_test"
PASSWORD = "Pw9-slotfsm-s3cret"  # distinctive, so a leak is easy to grep for
DATABASE = "slotfsm"


def skip_or_fail(reason: str) -> None:
    # conftest's helper; imported lazily so this module loads first without a cycle.
    from conftest import skip_or_fail as helper

    helper(reason)


def find_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres (newest Debian version first)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                        else 0, reverse=True)
    for directory in candidates:
        if all(os.access(os.path.join(directory, b), os.X_OK)
               for b in ("initdb", "pg_ctl", "postgres")):
            return Path(directory)
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb") and shutil.which("postgres"):
        return Path(on_path).parent
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PostgresServer:
    """One throwaway cluster. ``url`` connects as the password-bearing test role."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="slotfsm-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", ADMIN, "--auth=trust", "-E", "UTF8",
                  "--locale=C", "--no-sync", "--no-instructions")
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all {ADMIN} 127.0.0.1/32 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
        )
        self.start()
        self._admin_sql(
            f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'",
            f"CREATE DATABASE {DATABASE} OWNER {ROLE}",
        )

    def _run(self, binary: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self._as_postgres:
            kwargs = {"user": "postgres", "group": "postgres", "extra_groups": []}
        return subprocess.run([str(self.bindir / binary), *args], capture_output=True,
                              text=True, check=check, cwd=self.root, timeout=120, **kwargs)

    @property
    def url(self) -> str:
        return f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def admin_conninfo(self) -> str:
        return f"host={self.root} port={self.port} user={ADMIN} dbname={DATABASE}"

    def start(self) -> None:
        """Start (again); on the previous port if it had one, else on a free one."""
        for attempt in range(5):
            if not self.port or attempt:
                self.port = free_port()
            options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                       f"-c unix_socket_directories={self.root} -c fsync=off "
                       "-c full_page_writes=off "
                       "-c max_connections=400 -c shared_buffers=32MB")
            done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w",
                             "-t", "60", "-o", options, "start", check=False)
            if done.returncode == 0:
                return
        raise RuntimeError(f"PostgreSQL did not start: {done.stderr}\n{self.log.read_text()}")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def _admin_sql(self, *statements: str, dbname: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(host=str(self.root), port=self.port, user=ADMIN, dbname=dbname,
                             autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def start_server() -> PostgresServer:
    """A fresh private server (for tests that stop it); skips or fails without binaries."""
    bindir = find_bindir()
    if bindir is None:
        skip_or_fail("PostgreSQL binaries not found (apt-get install postgresql)")
        raise AssertionError("unreachable")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        skip_or_fail("psycopg is not installed (pip install 'slotfsm[postgres]')")
    return PostgresServer(bindir)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (one per xdist worker)."""
    server = start_server()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """URL of the session server, as the password-bearing test role."""
    return postgres_server.url


_schemas = itertools.count(1)


def unique_schema() -> str:
    return f"t{os.getpid()}_{next(_schemas)}_{uuid.uuid4().hex[:6]}"


@pytest.fixture
def postgres_store_factory(postgres_server: PostgresServer) -> Iterator[Callable[..., Any]]:
    """Makes fresh, isolated PostgresStores: one new schema per call, one shared pool.

    Keyword arguments go to ``PostgresStore`` (a ``pool`` or ``conninfo`` given
    replaces the shared pool).
    """
    from psycopg_pool import ConnectionPool

    from slotfsm.stores.postgres import PostgresStore

    pool: ConnectionPool[Any] = ConnectionPool(
        postgres_server.url, min_size=1, max_size=16, kwargs={"autocommit": True}, open=True,
        name="slotfsm-tests",
    )
    made: list[PostgresStore] = []
    schemas: list[str] = []

    def make(**options: Any) -> PostgresStore:
        schema = options.pop("schema", None) or unique_schema()
        if "conninfo" not in options and "connection" not in options:
            options.setdefault("pool", pool)
        store = PostgresStore(schema=schema, **options)
        made.append(store)
        schemas.append(schema)
        return store

    yield make
    for store in made:
        store.close()
    if schemas:
        from psycopg import sql

        with pool.connection() as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.SQL(", ").join(sql.Identifier(s) for s in schemas)))
    pool.close()
