"""Throwaway PostgreSQL and Redis for the benchmark, from the test suite's own launchers.

``tests/servers_postgres.py`` and ``tests/servers_redis.py`` start servers from the
Debian binaries (loopback, random port, temporary directory, durability off); the
benchmark imports them rather than keeping a second copy. They are children of the
benchmark process and are stopped when it ends.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent / "tests"


class ServerUnavailable(RuntimeError):
    """The launcher, the binaries or the server itself is missing."""


def _launcher(name: str) -> Any:
    if not (TESTS / f"{name}.py").exists():
        raise ServerUnavailable(f"{TESTS / name}.py not found (run from a source checkout)")
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ServerUnavailable(f"cannot import tests/{name}.py: {exc}") from None


class _Postgres:
    """A cluster from ``servers_postgres``; fresh databases are made as its admin role."""

    def __init__(self) -> None:
        module = _launcher("servers_postgres")
        self._module = module
        self.server = _start(module.start_server)
        self.url: str = self.server.url

    def create_database(self, name: str) -> str:
        """A new empty database owned by the test role; its URL."""
        import psycopg

        with psycopg.connect(self.server.admin_conninfo.replace(
                f"dbname={self._module.DATABASE}", "dbname=postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER {self._module.ROLE}')
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def settings(self) -> dict[str, str]:
        import psycopg

        names = ("server_version", "fsync", "synchronous_commit", "full_page_writes",
                 "shared_buffers", "max_connections")
        with psycopg.connect(self.url) as conn:
            return {n: conn.execute(f"SHOW {n}").fetchone()[0] for n in names}

    def stop(self) -> None:
        self.server.destroy()


class _Redis:
    def __init__(self) -> None:
        module = _launcher("servers_redis")
        self.workdir = Path(tempfile.mkdtemp(prefix="slotfsm-bench-redis-"))
        self.server = _start(module.start_server, self.workdir)
        self.url: str = self.server.url

    def settings(self) -> dict[str, str]:
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            info = client.info("server")
            config = client.config_get("save")
            config.update(client.config_get("appendonly"))
        finally:
            client.close()
        return {"redis_version": str(info.get("redis_version")),
                **{k: str(v) for k, v in config.items()}}

    def stop(self) -> None:
        self.server.stop()
        import shutil

        shutil.rmtree(self.workdir, ignore_errors=True)


def _start(start: Any, *args: Any) -> Any:
    import pytest

    try:
        return start(*args)
    except pytest.skip.Exception as exc:  # the launcher's "binaries missing"
        raise ServerUnavailable(str(exc.msg)) from None
    except pytest.fail.Exception as exc:
        raise ServerUnavailable(str(exc.msg)) from None
    except Exception as exc:
        raise ServerUnavailable(f"{type(exc).__name__}: {exc}") from None


class Servers:
    """Starts each server on first use; ``close()`` stops what was started."""

    def __init__(self) -> None:
        self._started: dict[str, Any] = {}

    def get(self, kind: str) -> Any:
        found = self._started.get(kind)
        if found is None:
            try:
                found = _Postgres() if kind == "postgres" else _Redis()
            except ServerUnavailable as exc:
                found = exc
            self._started[kind] = found
        if isinstance(found, ServerUnavailable):
            raise found
        return found

    def settings(self) -> dict[str, dict[str, str]]:
        out = {}
        for kind, server in self._started.items():
            if not isinstance(server, ServerUnavailable):
                try:
                    out[kind] = server.settings()
                except Exception as exc:  # informative only
                    out[kind] = {"error": str(exc)}
        return out

    def close(self) -> None:
        for server in self._started.values():
            if not isinstance(server, ServerUnavailable):
                server.stop()
        self._started.clear()
