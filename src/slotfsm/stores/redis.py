"""RedisStore: slots in Redis or Redis Cluster, each commit one atomic Lua script.

Every :meth:`RedisStore.commit` is exactly one ``EVALSHA`` of :data:`COMMIT_SCRIPT`
(redis-py's ``register_script``: on ``NOSCRIPT`` it sends ``SCRIPT LOAD`` and the
``EVALSHA`` again). The script performs steps 1-5 of the store contract
(:class:`~slotfsm.stores.Store`) inside Redis, where a script runs atomically: no other
command runs between its reads and its writes, so there is no half-applied change for a
crash or a concurrent client to see.

Key layout (``prefix`` defaults to ``slotfsm``; ``<tag>`` is ``_ids.slot_tag(slot_id)``)::

    <prefix>:{<tag>}:slot:<slot_id>      hash  status, version, recent (replay guard)
    <prefix>:{<tag>}:rec:<record_id>     hash  slot_id, kind, user, status, created_at, ended_at
    <prefix>:{<tag>}:active:<slot_id>    hash  kind -> id of the slot's active record
    <prefix>:{<tag>}:recs:<slot_id>      list  the slot's record ids, oldest first
    <prefix>:{<tag>}:hist:<slot_id>      list  the slot's history rows (JSON), version 1 first

The hash tag ``{<tag>}`` comes right after the prefix (which may not contain braces),
so it is the first ``{…}`` of every key and Redis Cluster hashes only the eight hex
digits: every key of a slot and of its records is in one cluster hash slot, whatever
the slot id contains (``{``, ``}``, ``:``, spaces, unicode). A record id embeds its
slot's tag (``_ids.new_record_id``), so a change addressed by record id is routed by the
record's key alone; the script then reads the record's ``slot_id`` and builds the
slot's keys itself from the same ``<prefix>:{<tag>}:`` base. That is cluster-safe: the
same hash tag means the same hash slot, owned by the node the script runs on (Redis
rejects only cross-slot access from scripts). The client passes every key it can
compute in ``KEYS``.

Timestamps are sent and stored as ``repr(float)`` strings and never pass through Lua's
number formatting, so they round-trip exactly.

Replays: redis-py retries a command after a connection error, and the first attempt
may have run. Each commit carries a random nonce; the slot hash remembers the nonces of
its last eight changes, and a replayed commit returns the change it already applied
instead of applying it twice or reporting its own write as a conflict.

Durability, honestly: a change is atomic. Whether an acknowledged change survives a
crash depends on the server's persistence, not on slotfsm:

* AOF with ``appendfsync always``: durable on acknowledgement.
* AOF with ``appendfsync everysec`` (the default when AOF is on): up to about one second
  of acknowledged changes can be lost on a crash.
* RDB snapshots alone: everything since the last snapshot is lost.
* Replication is asynchronous: a replica promoted on failover may lack acknowledged
  changes (``WAIT`` narrows that window, it cannot close it).

A commit that fails with :class:`~slotfsm.StoreUnavailable` may or may not have been
applied (the server may have run it and then lost the connection); read the slot to
find out.

:meth:`RedisStore.slots` SCANs every primary for slot keys: a per-status index cannot
live in one hash slot with every slot's keys, and a global index could not be written
in the same atomic script. Its cost grows with the database's key count.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

try:
    import redis
    import redis.cluster
    import redis.exceptions
    from redis.backoff import ExponentialWithJitterBackoff
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "RedisStore needs the redis package, which is not installed; "
        "install it with: pip install 'slotfsm[redis]'"
    ) from exc

from .._ids import slot_tag, tag_of
from .._records import ACTIVE, Applied, Change, HistoryEntry, Hold, Outcome, Slot, Stale, make_hold
from ..errors import InvalidInput, SlotConflict, StoreUnavailable
from ._base import Store, applied
from ._url import redact

__all__ = ["COMMIT_SCRIPT", "RedisStore"]

#: How many recent change nonces a slot remembers to recognise a replayed commit.
RECENT_NONCES = 8

COMMIT_SCRIPT = r"""
-- KEYS[1]: the routing key (the slot's key, or the record's key when addressed by id);
-- KEYS[2..]: the other keys the client could compute. Every key below is built from
-- base = "<prefix>:{<tag>}:", so all of them hash to the slot of KEYS[1].
local base = ARGV[1]
local nonce = ARGV[2]
local function key(kind, id) return base .. kind .. ":" .. id end

local function read_record(rid)
  if not rid then return nil end
  local v = redis.call("HMGET", key("rec", rid),
                       "slot_id", "kind", "user", "status", "created_at", "ended_at")
  if not v[1] then return nil end
  return {rid, v[1], v[2], v[3], v[4], v[5], v[6] or ""}
end

-- Reply (JSON): [tag, slot_id, slot_exists, status, version, record_exists, record...]
local function reply(tag, slot_id, slot, rec)
  local out = {tag, slot_id or "", "0", "", "0", "0"}
  if slot then out[3] = "1"; out[4] = slot[1]; out[5] = slot[2] end
  if rec then
    out[6] = "1"
    for i = 1, 7 do out[6 + i] = rec[i] end
  end
  return cjson.encode(out)
end

-- ARGV[3]: the change as JSON; absent fields are nil. Numbers travel as strings.
local c = cjson.decode(ARGV[3])
local has_slot, slot_id = c.slot ~= nil, c.slot
local creating = c.source == nil
local source = c.source
local has_version, version = c.version ~= nil, c.version
local target = c.target
local close = c.close or {}
local has_close, close_kind, outcome = c.close ~= nil, close.kind, close.outcome
local close_id = close.id
local has_owner, owner = close.owner ~= nil, close.owner
local at = c.at
local open = c.open or {}
local has_open = c.open ~= nil

-- 1. Resolve the slot.
local looked = nil
if not has_slot then
  looked = read_record(close_id)
  if not looked or looked[3] ~= close_kind then return reply("S", nil, nil, nil) end
  slot_id = looked[2]
end
local skey = key("slot", slot_id)
local cur = redis.call("HMGET", skey, "status", "version", "recent")
local slot = nil
if cur[1] then slot = {cur[1], cur[2]} end
local recent = cur[3] or ""

-- A replay of a commit this slot already applied: report it, do not apply it again.
local s, e = string.find(recent, " " .. nonce .. "=", 1, true)
if s then
  local v = string.match(recent, "^(%d+)", e + 1)
  local rec = nil
  if has_close then
    local row = cjson.decode(redis.call("LINDEX", key("hist", slot_id), tonumber(v) - 1))
    if row["ref"] ~= cjson.null then rec = read_record(row["ref"]) end
  end
  return reply("R", slot_id, {slot[1], v}, rec)
end

local function history_row(v, ref)
  local row = {v = v, event = c.event, target = target, at = at,
               override = c.override, source = cjson.null, user = cjson.null,
               ref = cjson.null}
  if not creating then row["source"] = source end
  if c.user ~= nil then row["user"] = c.user end
  if ref then row["ref"] = ref end
  return cjson.encode(row)
end

local function remember(v)
  local parts = {}
  for tok in string.gmatch(recent, "%S+") do parts[#parts + 1] = tok end
  parts[#parts + 1] = nonce .. "=" .. v
  local first = math.max(1, #parts - tonumber(c.keep) + 1)
  return " " .. table.concat(parts, " ", first)
end

-- 2. Creation: the slot must not exist.
if creating then
  if slot then return reply("S", slot_id, slot, nil) end
  redis.call("HSET", skey, "status", target, "version", "1", "recent", remember(1))
  redis.call("RPUSH", key("hist", slot_id), history_row(1, nil))
  return reply("A", slot_id, {target, "1"}, nil)
end

-- The record a closing change looks at: by id, or the slot's active one of its kind.
if has_close and has_slot then
  if close_id then
    looked = read_record(close_id)
  else
    looked = read_record(redis.call("HGET", key("active", slot_id), close_kind) or nil)
  end
end

-- 3. Compare status (and version).
if not slot or slot[1] ~= source or (has_version and slot[2] ~= version) then
  return reply("S", slot_id, slot, looked)
end

-- 4. The record to close.
if has_close then
  if not looked or looked[2] ~= slot_id or looked[3] ~= close_kind
     or looked[5] ~= "active" or (has_owner and looked[4] ~= owner) then
    return reply("S", slot_id, slot, looked)
  end
end

-- Integrity the compare cannot foresee: checked before anything is written.
local open_id, open_kind = open.id, open.kind
if has_open then
  if redis.call("EXISTS", key("rec", open_id)) == 1 then
    return cjson.encode({"C", "record " .. open_id .. " already exists"})
  end
  local held = redis.call("HGET", key("active", slot_id), open_kind)
  if held and not (has_close and looked[1] == held) then
    return cjson.encode({"C", "slot already has an active " .. open_kind .. " " .. held})
  end
end

-- 5. Apply everything.
local newv = tonumber(slot[2]) + 1
local ref = nil
if has_close then
  redis.call("HSET", key("rec", looked[1]), "status", outcome, "ended_at", at)
  if redis.call("HGET", key("active", slot_id), close_kind) == looked[1] then
    redis.call("HDEL", key("active", slot_id), close_kind)
  end
  ref = looked[1]
end
if has_open then
  local fields = {"slot_id", slot_id, "kind", open_kind, "user", open.user,
                  "status", open.status, "created_at", open.created_at}
  if open.ended_at ~= nil then
    fields[#fields + 1] = "ended_at"; fields[#fields + 1] = open.ended_at
  end
  redis.call("HSET", key("rec", open_id), unpack(fields))
  redis.call("RPUSH", key("recs", slot_id), open_id)
  if open.status == "active" then redis.call("HSET", key("active", slot_id), open_kind, open_id) end
  ref = open_id
end
redis.call("HSET", skey, "status", target, "version", tostring(newv), "recent", remember(newv))
redis.call("RPUSH", key("hist", slot_id), history_row(newv, ref))
return reply("A", slot_id, {target, tostring(newv)}, looked)
"""

RECORDS_SCRIPT = r"""
-- KEYS[1]: the slot's record list; ARGV[1]: the key base "<prefix>:{<tag>}:".
local out = {}
for _, rid in ipairs(redis.call("LRANGE", KEYS[1], 0, -1)) do
  local v = redis.call("HMGET", ARGV[1] .. "rec:" .. rid,
                       "slot_id", "kind", "user", "status", "created_at", "ended_at")
  if v[1] then
    out[#out + 1] = rid
    for i = 1, 5 do out[#out + 1] = v[i] end
    out[#out + 1] = v[6] or ""
  end
end
return out
"""

_PREFIX_OK = re.compile(r"^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)*$")

# What a dead, restarting or failing-over server looks like through redis-py.
_UNAVAILABLE: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,  # also AuthenticationError, BusyLoadingError
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterDownError,  # also MasterDownError
    redis.exceptions.TryAgainError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.RedisClusterException,
)


def _s(value: Any) -> str:
    """A reply element as ``str`` (the host's client may or may not decode replies)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def _f(value: float) -> str:
    # repr is the shortest string that round-trips the exact float.
    return repr(float(value))


def _hold(row: Sequence[Any]) -> Hold:
    """A record from ``id, slot_id, kind, user, status, created_at, ended_at``."""
    rid, slot_id, kind, user, status, created, ended = (_s(v) for v in row)
    return make_hold(kind, rid, slot_id, user, status, float(created),
                     float(ended) if ended else None)


class RedisStore(Store):
    """A store in Redis (one server) or Redis Cluster, on redis-py.

    Args:
        client: The host's existing ``redis.Redis`` or ``redis.cluster.RedisCluster``;
            the store uses it and does not close it.
        url: Instead of ``client``: ``redis://[:password@]host:port/db``,
            ``rediss://…``, or ``redis+cluster://host:port`` (``rediss+cluster://``).
        cluster: Treat a ``redis://`` URL as a cluster seed node.
        prefix: First part of every key, so several stores (and the host's own keys)
            share a database; ASCII letters, digits, ``_.-`` and ``:`` separators.
        **options: Passed to redis-py's ``from_url`` (``socket_timeout``, ``retry``, …).

    Example::

        store = RedisStore(url="redis://localhost:6379/0")
        store = RedisStore(url="redis+cluster://10.0.0.5:7000", prefix="ev")
        store = RedisStore(redis.Redis(connection_pool=pool))
    """

    schemes = ("redis", "rediss", "redis+cluster", "rediss+cluster")

    def __init__(
        self,
        client: redis.Redis | redis.cluster.RedisCluster | None = None,
        *,
        url: str | None = None,
        cluster: bool = False,
        prefix: str = "slotfsm",
        **options: Any,
    ) -> None:
        if not isinstance(prefix, str) or not _PREFIX_OK.match(prefix):
            raise InvalidInput(
                f"Redis key prefix {prefix!r} must be ASCII letters, digits, '_', '.', '-' "
                "separated by ':' (no braces or glob characters)"
            )
        self.prefix = prefix
        if (client is None) == (url is None):
            raise InvalidInput("RedisStore needs exactly one of client= or url=")
        self._password: str | None = None
        self._owned = client is None
        if client is not None:
            if options:
                raise InvalidInput(f"options {sorted(options)} apply only with url=")
            self.url = "<client>"
            self.client = client
        else:
            assert url is not None
            self.url = redact(url)
            self.client = self._connect(url, cluster, options)
        self.cluster = isinstance(self.client, redis.cluster.RedisCluster)
        self._commit = self.client.register_script(COMMIT_SCRIPT)
        self._records = self.client.register_script(RECORDS_SCRIPT)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisStore:
        """Open a store from a ``redis://``, ``rediss://`` or ``redis+cluster://`` URL.

        The query option ``prefix`` sets the key prefix (``redis://host/0?prefix=ev``);
        the other query options go to redis-py.
        """
        try:
            parts = urlsplit(url)
        except ValueError:
            raise InvalidInput(f"malformed Redis URL {redact(url)!r}") from None
        query = parse_qsl(parts.query, keep_blank_values=True)
        for name, value in query:
            if name == "prefix":
                options.setdefault("prefix", value)
        rest = urlencode([(n, v) for n, v in query if n != "prefix"])
        return cls(url=urlunsplit(parts._replace(query=rest)), **options)

    def _connect(
        self, url: str, cluster: bool, options: dict[str, Any]
    ) -> redis.Redis | redis.cluster.RedisCluster:
        try:
            parts = urlsplit(url)
            self._password = parts.password
        except ValueError:
            raise InvalidInput(f"malformed Redis URL {self.url!r}") from None
        scheme = parts.scheme.lower()
        if scheme not in self.schemes:
            raise InvalidInput(f"not a Redis URL: {self.url!r}")
        if scheme.endswith("+cluster"):
            cluster = True
            scheme = scheme.removesuffix("+cluster")
        if cluster and parts.path not in ("", "/", "/0"):
            raise InvalidInput(f"Redis Cluster has only database 0: {self.url!r}")
        plain = urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))
        # Fail fast and retry briefly: a dead server should answer 503 within seconds.
        # Retrying a commit is safe: the script recognises its own replay (see above).
        options.setdefault("socket_connect_timeout", 5.0)
        options.setdefault("socket_timeout", 10.0)
        options.setdefault("retry", Retry(ExponentialWithJitterBackoff(0.01, 0.5), 3))
        try:
            if cluster:
                return redis.cluster.RedisCluster.from_url(plain, **options)
            return redis.Redis.from_url(plain, **options)
        except _UNAVAILABLE as exc:  # RedisCluster connects at once to learn the slot map
            self._unavailable("connect", exc)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"bad Redis URL or option for {self.url!r}: "
                               f"{self._scrub(str(exc))}") from None

    def __repr__(self) -> str:
        kind = "cluster" if self.cluster else "server"
        return f"RedisStore({self.url!r}, {kind}, prefix={self.prefix!r})"

    # -- keys ----------------------------------------------------------------------------

    def _base(self, tag: str) -> str:
        return f"{self.prefix}:{{{tag}}}:"

    def _key(self, kind: str, slot_or_record_id: str, tag: str | None = None) -> str:
        if tag is None:
            tag = slot_tag(slot_or_record_id)
        return f"{self._base(tag)}{kind}:{slot_or_record_id}"

    # -- errors --------------------------------------------------------------------------

    def _scrub(self, message: str) -> str:
        password = self._password
        return message.replace(password, "***") if password else message

    def _unavailable(self, what: str, exc: Exception) -> NoReturn:
        message = self._scrub(f"{type(exc).__name__}: {exc}")
        raise StoreUnavailable(
            f"Redis at {self.url} is unavailable ({what}): {message}"
        ) from None

    # -- writing -------------------------------------------------------------------------

    def commit(self, change: Change) -> Outcome:
        closes, opens = change.closes, change.opens
        if change.slot_id is not None:
            tag = slot_tag(change.slot_id)
            keys = [self._key(k, change.slot_id, tag)
                    for k in ("slot", "active", "recs", "hist")]
        else:
            assert closes is not None and closes.record_id is not None
            found = tag_of(closes.record_id)
            if found is None:
                return Stale(None, None)
            tag = found
            keys = [self._key("rec", closes.record_id, tag)]
        if closes is not None and closes.record_id is not None and change.slot_id is not None:
            keys.append(self._key("rec", closes.record_id, tag))
        if opens is not None:
            if tag_of(opens.id) != tag:
                raise InvalidInput(
                    f"record id {opens.id!r} does not carry its slot's tag {tag!r}; RedisStore "
                    "needs ids from slotfsm's new_record_id (kind_<tag>_<unique>)",
                    record_id=opens.id,
                )
            keys.append(self._key("rec", opens.id, tag))

        # One JSON argument: redis-py packs a handful of arguments much faster than
        # thirty, and Lua decodes it in microseconds. Absent fields are left out (nil).
        payload: dict[str, Any] = {"target": change.target, "at": _f(change.at),
                                   "event": change.event, "override": change.override,
                                   "keep": str(RECENT_NONCES)}
        if change.slot_id is not None:
            payload["slot"] = change.slot_id
        if change.source is not None:
            payload["source"] = change.source
        if change.version is not None:
            payload["version"] = str(change.version)
        if change.user is not None:
            payload["user"] = change.user
        if closes is not None:
            payload["close"] = {k: v for k, v in (
                ("kind", closes.kind), ("outcome", closes.outcome),
                ("id", closes.record_id), ("owner", closes.owner)) if v is not None}
        if opens is not None:
            payload["open"] = {k: v for k, v in (
                ("id", opens.id), ("kind", opens.kind), ("user", opens.user),
                ("status", opens.status), ("created_at", _f(opens.created_at)),
                ("ended_at", None if opens.ended_at is None else _f(opens.ended_at)),
            ) if v is not None}
        args = [self._base(tag), os.urandom(8).hex(),
                json.dumps(payload, ensure_ascii=False, separators=(",", ":"))]
        try:
            reply = self._commit(keys=keys, args=args)
        except _UNAVAILABLE as exc:
            self._unavailable("commit", exc)
        return self._outcome(change, reply)

    def _outcome(self, change: Change, raw: Any) -> Outcome:
        reply = json.loads(_s(raw))
        tag = reply[0]
        if tag == "C":
            raise SlotConflict(f"Redis refused the change: {_s(reply[1])}",
                               slot_id=change.slot_id, event=change.event)
        slot_id = _s(reply[1])
        slot = (Slot(slot_id, _s(reply[3]), int(_s(reply[4])))
                if _s(reply[2]) == "1" else None)
        record = _hold(reply[6:13]) if _s(reply[5]) == "1" else None
        if tag == "S":
            return Stale(slot, record)
        assert slot is not None and slot.version is not None
        closed = None
        if change.closes is not None and record is not None:
            closed = make_hold(record.kind, record.id, record.slot_id, record.user,
                               change.closes.outcome, record.created_at, change.at)
        result: Applied = applied(change, slot_id, slot.version, change.opens, closed)
        return result

    # -- reading -------------------------------------------------------------------------

    def slot(self, slot_id: str) -> Slot | None:
        try:
            status, version = self.client.hmget(self._key("slot", slot_id), "status", "version")
        except _UNAVAILABLE as exc:
            self._unavailable("read", exc)
        if status is None:
            return None
        return Slot(slot_id, _s(status), int(_s(version)))

    def _slot_keys(self) -> Iterator[str]:
        # RedisCluster.scan_iter walks every primary's cursor in turn.
        pattern = f"{self.prefix}:{{????????}}:slot:*"
        yield from (_s(k) for k in self.client.scan_iter(match=pattern, count=1000))

    def slots(self, status: str | None = None) -> list[Slot]:
        head = len(self.prefix) + len(":{12345678}:slot:")
        try:
            keys = sorted(set(self._slot_keys()))
            if not keys:
                return []
            pipe = self.client.pipeline(transaction=False)
            for k in keys:
                pipe.hmget(k, "status", "version")
            rows = pipe.execute()
        except _UNAVAILABLE as exc:
            self._unavailable("read", exc)
        found = [Slot(k[head:], _s(st), int(_s(v)))
                 for k, (st, v) in zip(keys, rows, strict=True) if st is not None]
        return sorted((s for s in found if status is None or s.status == status),
                      key=lambda s: s.id)

    def record(self, record_id: str) -> Hold | None:
        tag = tag_of(record_id)
        if tag is None:
            return None
        try:
            row = self.client.hmget(self._key("rec", record_id, tag), "slot_id", "kind", "user",
                                    "status", "created_at", "ended_at")
        except _UNAVAILABLE as exc:
            self._unavailable("read", exc)
        if row[0] is None:
            return None
        return _hold([record_id, *row[:5], row[5] or ""])

    def records(self, slot_id: str) -> list[Hold]:
        tag = slot_tag(slot_id)
        try:
            flat = self._records(keys=[self._key("recs", slot_id, tag)], args=[self._base(tag)])
        except _UNAVAILABLE as exc:
            self._unavailable("read", exc)
        return [_hold(flat[i:i + 7]) for i in range(0, len(flat), 7)]

    def active(self, slot_id: str) -> list[Hold]:
        return [r for r in self.records(slot_id) if r.status == ACTIVE]

    def history(self, slot_id: str) -> list[HistoryEntry]:
        try:
            rows = self.client.lrange(self._key("hist", slot_id), 0, -1)
        except _UNAVAILABLE as exc:
            self._unavailable("read", exc)
        entries = []
        for raw in rows:
            row = json.loads(_s(raw))
            entries.append(HistoryEntry(slot_id, int(row["v"]), row["event"], row["source"],
                                        row["target"], row["user"], float(row["at"]),
                                        row["ref"], bool(row["override"])))
        return entries

    def close(self) -> None:
        """Close the connection pool (only one this store opened itself)."""
        if self._owned:
            self.client.close()
