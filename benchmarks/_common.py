"""What every section shares: the run's settings, stores by kind, section results."""

from __future__ import annotations

import importlib
import importlib.util
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slotfsm import SQLiteStore, Store
from slotfsm.stores import open_store

from ._servers import Servers, ServerUnavailable

#: The slot lifecycle's transitions, for the baselines that rebuild the same machine.
TRANSITIONS = [
    ("book", "available", "booked"),
    ("cancel", "booked", "available"),
    ("complete", "booked", "available"),
    ("start", "available", "in_use"),
    ("stop", "in_use", "available"),
]
STATES = ["available", "booked", "in_use"]

STORE_MODULES = {"postgres": "slotfsm.stores.postgres", "redis": "slotfsm.stores.redis"}
STORE_FILES = {"postgres": "src/slotfsm/stores/postgres.py", "redis": "src/slotfsm/stores/redis.py"}


@dataclass
class Counts:
    """How much work each section does; ``smoke`` and ``full`` below."""

    decide_n: int
    decide_repeats: int
    op_pairs: dict[str, int]
    op_repeats: int
    op_slots: int
    contention_processes: list[int]
    contention_slots: list[int]
    contention_seconds: float
    scale_sizes: list[int]
    scale_pairs: int
    scale_repeats: int
    memory_slots: int


SMOKE = Counts(
    decide_n=200, decide_repeats=3,
    op_pairs={"memory": 100, "sqlite": 30, "postgres": 30, "redis": 30}, op_repeats=3,
    op_slots=10,
    contention_processes=[1, 2], contention_slots=[1, 20], contention_seconds=0.25,
    scale_sizes=[100, 1_000, 5_000], scale_pairs=30, scale_repeats=3,
    memory_slots=500,
)
FULL = Counts(
    decide_n=20_000, decide_repeats=11,
    op_pairs={"memory": 5_000, "sqlite": 1_500, "postgres": 1_000, "redis": 1_500},
    op_repeats=11, op_slots=100,
    contention_processes=[1, 2, 4, 8], contention_slots=[1, 1_000], contention_seconds=3.0,
    scale_sizes=[1_000, 100_000, 1_000_000], scale_pairs=1_000, scale_repeats=9,
    memory_slots=100_000,
)


@dataclass
class Context:
    counts: Counts
    smoke: bool
    tmp: Path
    servers: Servers
    _names: itertools.count[int] = field(default_factory=itertools.count)

    def unique(self, stem: str) -> str:
        return f"{stem}_{next(self._names)}"


class Skip(Exception):
    """A part of a section cannot run (store not written yet, server missing)."""


def store_module(kind: str) -> Any:
    """The store module for ``kind``, or raise Skip saying why it is not there."""
    name = STORE_MODULES[kind]
    if importlib.util.find_spec(name) is None:
        raise Skip(f"{STORE_FILES[kind]} does not exist yet: {kind} skipped")
    try:
        return importlib.import_module(name)
    except Exception as exc:  # a half-written module must not end the run
        raise Skip(f"{STORE_FILES[kind]} does not import ({type(exc).__name__}: {exc}): "
                   f"{kind} skipped") from None


def server(ctx: Context, kind: str) -> Any:
    try:
        return ctx.servers.get(kind)
    except ServerUnavailable as exc:
        raise Skip(f"{kind} server unavailable: {exc}") from None


def fresh_postgres_url(ctx: Context, stem: str) -> str:
    """A new, empty database on the benchmark's server, so parts never see each other."""
    return server(ctx, "postgres").create_database(ctx.unique(stem))


def fresh_redis_url(ctx: Context) -> str:
    """The benchmark's Redis, emptied: parts run one after another."""
    import redis

    url: str = server(ctx, "redis").url
    client = redis.Redis.from_url(url)
    try:
        client.flushall()
    finally:
        client.close()
    return url


def open_fresh_store(ctx: Context, kind: str, stem: str) -> tuple[Store, str]:
    """A new empty store of ``kind`` and the URL that opens it again (other processes)."""
    if kind == "sqlite":
        path = ctx.tmp / f"{ctx.unique(stem)}.db"
        return SQLiteStore(path), f"sqlite:///{path}"
    store_module(kind)
    url = fresh_postgres_url(ctx, stem) if kind == "postgres" else fresh_redis_url(ctx)
    return open_store(url), url


def section(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": title, "status": "ok", "notes": [], "rows": [], **extra}
