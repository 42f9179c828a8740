"""Real Redis servers for the tests: one password-protected server and a 3-master cluster.

Started once per test session (per pytest-xdist worker) from the Debian binaries
``redis-server`` and ``redis-cli``, on loopback, random free ports, throwaway dirs, no
persistence. Without the binaries the fixtures skip (fail under
``SLOTFSM_REQUIRE_SERVERS=1``). Stores made by the factories get a fresh key prefix
each, so tests never see each other's keys.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import skip_or_fail

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
PASSWORD = "s3cret-Pa55"


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port that is free, and whose cluster bus port (+10000) is free too."""
    for _ in range(200):
        port = random.randint(20000, 55000)
        if _free(port) and _free(port + 10000):
            return port
    raise RuntimeError("no free port pair found")


class RedisServer:
    """One redis-server process; ``stop()`` and ``start()`` again on the same port."""

    def __init__(self, workdir: Path, *, password: str | None = None, cluster: bool = False,
                 extra: tuple[str, ...] = (), port: int | None = None) -> None:
        self.workdir = workdir
        self.password = password
        self.cluster = cluster
        self.extra = extra
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def cli(self, *args: str, check: bool = True) -> str:
        """Run ``redis-cli`` against this server; returns its output."""
        cmd = [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port)]
        env = dict(os.environ, REDISCLI_AUTH=self.password) if self.password else None
        done = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env,
                              timeout=30, check=False)
        if check and done.returncode != 0:
            raise RuntimeError(f"redis-cli {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            REDIS_SERVER,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.workdir),
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--logfile", str(self.workdir / "redis.log"),
        ]
        if self.password:
            args += ["--requirepass", self.password]
        if self.cluster:
            args += ["--cluster-enabled", "yes",
                     "--cluster-config-file", str(self.workdir / "nodes.conf"),
                     "--cluster-node-timeout", "5000"]
        args += list(self.extra)  # later options win
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                log = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited: {err}{log}")
            if "PONG" in self.cli("ping", check=False):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server on port {self.port} did not answer PING")

    def stop(self, sig: str = "term") -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if sig == "kill":
            proc.kill()
        else:
            proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def start_server(workdir: Path, **kwargs: object) -> RedisServer:
    """Start a private redis-server (skips, or fails in CI, without the binaries)."""
    if not (os.access(REDIS_SERVER, os.X_OK) and os.access(REDIS_CLI, os.X_OK)):
        skip_or_fail("redis-server not found (apt-get install redis-server)")
    for attempt in range(3):  # a random port can be taken between the check and the bind
        server = RedisServer(workdir / f"try{attempt}", **kwargs)  # type: ignore[arg-type]
        try:
            server.start()
            return server
        except RuntimeError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class RedisCluster:
    """Three masters, no replicas, joined with ``redis-cli --cluster create``."""

    def __init__(self, nodes: list[RedisServer]) -> None:
        self.nodes = nodes

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_cluster(workdir: Path) -> RedisCluster:
    nodes = [start_server(workdir / f"node{i}", cluster=True) for i in range(3)]
    cluster = RedisCluster(nodes)
    try:
        nodes[0].cli("--cluster", "create",
                     *(f"127.0.0.1:{n.port}" for n in nodes),
                     "--cluster-replicas", "0", "--cluster-yes")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            infos = [n.cli("cluster", "info") for n in nodes]
            if all("cluster_state:ok" in i and "cluster_known_nodes:3" in i for i in infos):
                return cluster
            time.sleep(0.1)
        raise RuntimeError(f"cluster did not reach cluster_state:ok: {infos}")
    except BaseException:
        cluster.stop()
        raise


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A password-protected redis-server for the whole session."""
    server = start_server(tmp_path_factory.mktemp("redis"), password=PASSWORD)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A 3-master Redis Cluster for the whole session."""
    cluster = start_cluster(tmp_path_factory.mktemp("redis-cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    """``redis://:<password>@127.0.0.1:<port>/0`` of the session server."""
    return redis_server.url


@pytest.fixture(scope="session")
def redis_cluster_url(redis_cluster: RedisCluster) -> str:
    """``redis+cluster://127.0.0.1:<port>`` of the session cluster."""
    return redis_cluster.url


def _factory(url: str) -> Iterator[Callable[..., object]]:
    from slotfsm.stores.redis import RedisStore

    opened: list[RedisStore] = []

    def make(**options: object) -> RedisStore:
        options.setdefault("prefix", f"t{uuid.uuid4().hex[:12]}")
        store = RedisStore.from_url(url, **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def redis_store_factory(redis_url: str) -> Iterator[Callable[..., object]]:
    """Fresh RedisStores on the session server, each under its own key prefix."""
    yield from _factory(redis_url)


@pytest.fixture
def redis_cluster_store_factory(redis_cluster_url: str) -> Iterator[Callable[..., object]]:
    """Fresh RedisStores on the session cluster, each under its own key prefix."""
    yield from _factory(redis_cluster_url)
