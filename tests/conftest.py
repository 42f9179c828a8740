"""Shared fixtures: every store behind one parametrized ``store_factory``.

Server-backed stores (PostgreSQL, Redis, Redis Cluster) are provided by the fixture
modules ``servers_postgres`` and ``servers_redis``: each starts a real server from the
Debian binaries (throwaway data dir, loopback, random port) once per session. Without
the binaries those stores skip with the reason; with ``SLOTFSM_REQUIRE_SERVERS=1`` (CI)
a skip is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from slotfsm import MemoryStore, SQLiteStore, Store

REQUIRE_SERVERS = os.environ.get("SLOTFSM_REQUIRE_SERVERS") == "1"

# Fixture modules of the server-backed stores; each defines "<name>_store_factory".
pytest_plugins = ["servers_postgres", "servers_redis"]

STORES = [
    "memory",
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("redis_cluster", marks=pytest.mark.redis),
]


def skip_or_fail(reason: str) -> None:
    """Skip (developer machine) or fail (CI, SLOTFSM_REQUIRE_SERVERS=1)."""
    if REQUIRE_SERVERS:
        pytest.fail(f"SLOTFSM_REQUIRE_SERVERS=1 but {reason}", pytrace=False)
    pytest.skip(reason)


StoreFactory = Callable[[], Store]


@pytest.fixture
def memory_store_factory() -> StoreFactory:
    return MemoryStore


@pytest.fixture
def sqlite_store_factory(tmp_path: Path) -> Iterator[StoreFactory]:
    opened: list[SQLiteStore] = []
    counter = iter(range(1_000_000))

    def make() -> SQLiteStore:
        store = SQLiteStore(tmp_path / f"slots-{next(counter)}.db")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture(params=STORES)
def store_factory(request: pytest.FixtureRequest) -> StoreFactory:
    """A factory of fresh, empty stores, once per kind of store."""
    factory: StoreFactory = request.getfixturevalue(f"{request.param}_store_factory")
    return factory


@pytest.fixture
def store(store_factory: StoreFactory) -> Iterator[Store]:
    s = store_factory()
    yield s
    s.close()
