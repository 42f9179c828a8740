"""RedisStore: slots in Redis or Redis Cluster, each commit one atomic Lua script.

Every :meth:`RedisStore.commit` is exactly one ``EVALSHA`` of :data:`COMMIT_SCRIPT`
(on ``NOSCRIPT`` the store sends ``SCRIPT LOAD``, to every primary of a cluster, and the
``EVALSHA`` again). The script performs steps 1-5 of the store contract
(:class:`~slotfsm.stores.Store`) inside Redis, where a script runs atomically: no other
command runs between its reads and its writes, so there is no half-applied change for a
crash or a concurrent client to see.

Key layout (``prefix`` defaults to ``slotfsm``; ``<tag>`` is ``_ids.slot_tag(slot_id)``)::

    <prefix>:{<tag>}:slot:<slot_id>      hash    status, version, recent (replay guard),
                                                 active:<kind> -> the active record's id or ""
    <prefix>:{<tag>}:rec:<record_id>     string  slot_id, kind, user, status, created_at,
                                                 ended_at
    <prefix>:{<tag>}:recs:<slot_id>      list    the slot's record ids, oldest first
    <prefix>:{<tag>}:hist:<slot_id>      list    history rows, version 1 first: version,
                                                 event, source, target, user, at, flags, ref

Records and history rows are flat strings of NUL-terminated fields (``struct``'s ``s``
format in the script, ``str.split`` in Python): ids and users are printable, so they
never contain NUL, and flat strings cost the script far less than JSON. A history row's
``flags`` are the commit's (see :data:`FIELDS`): whether source and user are present
and whether the change was an override. The active pointers live in the slot's hash so
that one ``HMGET`` reads everything a commit compares and one ``HSET`` writes it back.

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
may have run. Each commit carries a random nonce (16 hex digits); the slot hash's
``recent`` holds the nonces of its last eight changes, concatenated, oldest first, the
last one being the current version's, so a nonce's place gives its version. A replayed
commit returns the change it already applied instead of applying it twice or reporting
its own write as a conflict.

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

import hashlib
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
from .._records import ACTIVE, Change, HistoryEntry, Hold, Outcome, Slot, Stale, make_hold
from ..errors import InvalidInput, SlotConflict, StoreUnavailable
from ._base import Store, applied
from ._url import redact

__all__ = ["COMMIT_SCRIPT", "RedisStore"]

#: How many recent change nonces a slot remembers to recognise a replayed commit.
RECENT_NONCES = 8

#: The commit's fields travel in one argument, each terminated by NUL (``struct``'s
#: ``s`` format unpacks them in C): ids and users are printable, so they hold no NUL.
FIELDS = ("base", "nonce", "flags", "slot_id", "source", "version", "target", "event", "user",
          "at", "close_kind", "outcome", "close_id", "owner", "open_id", "open_kind",
          "open_user", "open_status", "open_created", "open_ended")

COMMIT_SCRIPT = r"""
-- ARGV[1]: the change, NUL-terminated fields in the order of FIELDS (absent: "").
-- KEYS: every key the client could compute. Every key below is built from
-- base = "<prefix>:{<tag>}:", so all of them hash to the slot of KEYS[1].
local base, nonce, flags, slot_id, source, version, target, event, user, at,
      close_kind, outcome, close_id, owner, open_id, open_kind, open_user, open_status,
      open_created, open_ended = struct.unpack("ssssssssssssssssssss", ARGV[1])
-- flags, one "1"/"0" each: 1 slot id given, 2 creation, 3 version given, 4 user given,
-- 5 closes, 6 close by id, 7 owner given, 8 opens, 9 override, 10 opened ended_at given.
local byte = string.byte
local has_slot, creating, has_version = byte(flags, 1) == 49, byte(flags, 2) == 49,
                                        byte(flags, 3) == 49
local has_close, has_close_id = byte(flags, 5) == 49, byte(flags, 6) == 49
local has_owner, has_open = byte(flags, 7) == 49, byte(flags, 8) == 49

-- A record is one string: slot_id, kind, user, status, created_at, ended_at, each
-- NUL-terminated. Returns {id, slot_id, kind, user, status, raw}.
local function read_record(rid)
  local raw = redis.call("GET", base .. "rec:" .. rid)
  if not raw then return nil end
  local sid, kind, who, status = struct.unpack("ssss", raw)
  return {rid, sid, kind, who, status, raw}
end

-- Replies are NUL-separated: "A" version [record id, record] (applied),
-- "S" slot_id has_slot status version has_record [record id, record] (stale),
-- "C" message (conflict).
local function stale(sid, st, ver, rec)
  local out
  if st then out = "S\0" .. sid .. "\0" .. "1\0" .. st .. "\0" .. ver .. "\0"
  else out = "S\0" .. (sid or "") .. "\0" .. "0\0\0\0" end
  if rec then return out .. "1\0" .. rec[1] .. "\0" .. rec[6] end
  return out .. "0"
end

-- 1. Resolve the slot.
local looked = nil
if not has_slot then
  looked = read_record(close_id)
  if not looked or looked[3] ~= close_kind then return stale(nil, nil, nil, nil) end
  slot_id = looked[2]
end
local skey = base .. "slot:" .. slot_id
-- The slot hash also holds "active:<kind>" -> id of the slot's active record ("": none).
local cur = redis.call("HMGET", skey, "status", "version", "recent",
                       has_close and "active:" .. close_kind or "status",
                       has_open and "active:" .. open_kind or "status")
local status, ver, recent = cur[1], cur[2], cur[3] or ""

-- A replay of a commit this slot already applied: report it, do not apply it again.
-- recent holds the nonces (16 hex digits) of the last changes, oldest first, the
-- newest being the current version's.
local from = 1
while true do
  local s = string.find(recent, nonce, from, true)
  if not s then break end
  local back = #recent - s + 1
  if back % 16 == 0 then
    local v = tonumber(ver) - back / 16 + 1
    if has_close then
      local row = redis.call("LINDEX", base .. "hist:" .. slot_id, v - 1)
      local ref = select(8, struct.unpack("ssssssss", row))
      local rec = ref ~= "" and read_record(ref)
      if rec then return "A\0" .. v .. "\0" .. rec[1] .. "\0" .. rec[6] end
    end
    return "A\0" .. v
  end
  from = s + 1
end

-- A history row: version, event, source, target, user, at, flags (which say whether
-- source and user are present and whether it was an override), ref; NUL-terminated.
local function row(v, ref)
  return v .. "\0" .. event .. "\0" .. source .. "\0" .. target .. "\0" .. user .. "\0"
         .. at .. "\0" .. flags .. "\0" .. ref .. "\0"
end

-- 2. Creation: the slot must not exist.
if creating then
  if status then return stale(slot_id, status, ver, nil) end
  redis.call("HSET", skey, "status", target, "version", "1", "recent", nonce)
  redis.call("RPUSH", base .. "hist:" .. slot_id, row("1", ""))
  return "A\0" .. "1"
end

-- The record a closing change looks at: by id, or the slot's active one of its kind.
if has_close and has_slot then
  if has_close_id then
    looked = read_record(close_id)
  elseif cur[4] and cur[4] ~= "" then
    looked = read_record(cur[4])
  end
end

-- 3. Compare status (and version).
if not status or status ~= source or (has_version and ver ~= version) then
  return stale(slot_id, status, ver, looked)
end

-- 4. The record to close.
if has_close then
  if not looked or looked[2] ~= slot_id or looked[3] ~= close_kind
     or looked[5] ~= "active" or (has_owner and looked[4] ~= owner) then
    return stale(slot_id, status, ver, looked)
  end
end

-- Integrity the compare cannot foresee: checked before anything is written (SET NX
-- writes nothing when it refuses).
if has_open then
  local held = cur[5]
  if held and held ~= "" and not (has_close and looked[1] == held) then
    return "C\0slot already has an active " .. open_kind .. " " .. held
  end
  if not redis.call("SET", base .. "rec:" .. open_id, slot_id .. "\0" .. open_kind .. "\0"
                    .. open_user .. "\0" .. open_status .. "\0" .. open_created .. "\0"
                    .. open_ended .. "\0", "NX") then
    return "C\0record " .. open_id .. " already exists"
  end
end

-- 5. Apply everything.
local newv = tostring(tonumber(ver) + 1)
recent = string.sub(recent .. nonce, -16 * RECENT)
local fields = {"status", target, "version", newv, "recent", recent}
local ref = ""
if has_close then
  local sid, kind, who, _, created = struct.unpack("sssss", looked[6])
  redis.call("SET", base .. "rec:" .. looked[1], sid .. "\0" .. kind .. "\0" .. who .. "\0"
             .. outcome .. "\0" .. created .. "\0" .. at .. "\0")
  if cur[4] == looked[1] then
    fields[7] = "active:" .. close_kind; fields[8] = ""
  end
  ref = looked[1]
end
if has_open then
  redis.call("RPUSH", base .. "recs:" .. slot_id, open_id)
  if open_status == "active" then
    fields[#fields + 1] = "active:" .. open_kind; fields[#fields + 1] = open_id
  end
  ref = open_id
end
redis.call("HSET", skey, unpack(fields))
redis.call("RPUSH", base .. "hist:" .. slot_id, row(newv, ref))
if has_close then return "A\0" .. newv .. "\0" .. looked[1] .. "\0" .. looked[6] end
return "A\0" .. newv
""".replace("RECENT", str(RECENT_NONCES))
COMMIT_SHA = hashlib.sha1(COMMIT_SCRIPT.encode()).hexdigest()

RECORDS_SCRIPT = r"""
-- KEYS[1]: the slot's record list; ARGV[1]: the key base "<prefix>:{<tag>}:".
-- Returns id, record, id, record, ... (records as stored: NUL-terminated fields).
local out = {}
for _, rid in ipairs(redis.call("LRANGE", KEYS[1], 0, -1)) do
  local raw = redis.call("GET", ARGV[1] .. "rec:" .. rid)
  if raw then
    out[#out + 1] = rid
    out[#out + 1] = raw
  end
end
return out
"""
RECORDS_SHA = hashlib.sha1(RECORDS_SCRIPT.encode()).hexdigest()

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


def _hold(record_id: str, fields: Sequence[str]) -> Hold:
    """A record from its stored fields: slot_id, kind, user, status, created_at, ended_at."""
    slot_id, kind, user, status, created, ended = fields[:6]
    return make_hold(kind, record_id, slot_id, user, status, float(created),
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

    def _evalsha(self, sha: str, script: str, keys: list[str], arg: str) -> Any:
        """One ``EVALSHA``; on ``NOSCRIPT`` load the script (every primary) and send it again.

        Called on the client directly rather than through redis-py's ``Script``, whose
        wrapper costs more than the rest of the client side of a commit.
        """
        execute = self.client.execute_command
        try:
            try:
                return execute("EVALSHA", sha, len(keys), *keys, arg)  # type: ignore[no-untyped-call]
            except redis.exceptions.NoScriptError:
                self.client.script_load(script)
                return execute("EVALSHA", sha, len(keys), *keys, arg)  # type: ignore[no-untyped-call]
        except _UNAVAILABLE as exc:
            self._unavailable("read" if sha == RECORDS_SHA else "commit", exc)

    def commit(self, change: Change) -> Outcome:
        closes, opens, slot_id = change.closes, change.opens, change.slot_id
        if slot_id is not None:
            tag = slot_tag(slot_id)
            base = f"{self.prefix}:{{{tag}}}:"
            keys = [f"{base}slot:{slot_id}", f"{base}recs:{slot_id}", f"{base}hist:{slot_id}"]
            if closes is not None and closes.record_id is not None:
                keys.append(f"{base}rec:{closes.record_id}")
        else:
            assert closes is not None and closes.record_id is not None
            found = tag_of(closes.record_id)
            if found is None:
                return Stale(None, None)
            tag = found
            base = f"{self.prefix}:{{{tag}}}:"
            keys = [f"{base}rec:{closes.record_id}"]
        if opens is not None:
            if tag_of(opens.id) != tag:
                raise InvalidInput(
                    f"record id {opens.id!r} does not carry its slot's tag {tag!r}; RedisStore "
                    "needs ids from slotfsm's new_record_id (kind_<tag>_<unique>)",
                    record_id=opens.id,
                )
            keys.append(f"{base}rec:{opens.id}")

        # One argument of NUL-terminated fields (FIELDS): redis-py packs one argument
        # much faster than twenty, and the script unpacks it in C, faster than JSON.
        source, version, user = change.source, change.version, change.user
        if closes is None:
            close: tuple[str, ...] = ("", "", "", "")
            cflags = "000"
        else:
            cid, owner = closes.record_id, closes.owner
            close = (closes.kind, closes.outcome, cid or "", owner or "")
            cflags = "1" + ("0" if cid is None else "1") + ("0" if owner is None else "1")
        if opens is None:
            open_: tuple[str, ...] = ("", "", "", "", "", "")
            oflags = "0"
        else:
            ended = opens.ended_at
            open_ = (opens.id, opens.kind, opens.user, opens.status, _f(opens.created_at),
                     "" if ended is None else _f(ended))
            oflags = "1"
        flags = "".join((
            "0" if slot_id is None else "1", "1" if source is None else "0",
            "0" if version is None else "1", "0" if user is None else "1", cflags, oflags,
            "1" if change.override else "0",
            "1" if opens is not None and opens.ended_at is not None else "0"))
        arg = "\0".join((self._base(tag), os.urandom(8).hex(), flags, slot_id or "",
                         source or "", "" if version is None else str(version),
                         change.target, change.event, user or "", _f(change.at),
                         *close, *open_, ""))
        if arg.count("\0") != len(FIELDS):
            raise InvalidInput("ids, users and names may not contain NUL characters",
                               slot_id=slot_id)
        reply = self._evalsha(COMMIT_SHA, COMMIT_SCRIPT, keys, arg)
        return self._outcome(change, _s(reply).split("\0"))

    def _outcome(self, change: Change, reply: list[str]) -> Outcome:
        tag = reply[0]
        closes = change.closes
        if tag == "A":
            version = int(reply[1])
            if len(reply) == 2:  # nothing closed: all the caller needs is the version
                slot_id = change.slot_id
                assert slot_id is not None
                return applied(change, slot_id, version, change.opens, None)
            assert closes is not None
            rid, slot_id, kind, user, _, created = reply[2:8]
            closed = make_hold(kind, rid, slot_id, user, closes.outcome, float(created),
                               change.at)
            return applied(change, slot_id, version, change.opens, closed)
        if tag == "C":
            raise SlotConflict(f"Redis refused the change: {reply[1]}",
                               slot_id=change.slot_id, event=change.event)
        slot = Slot(reply[1], reply[3], int(reply[4])) if reply[2] == "1" else None
        record = _hold(reply[6], reply[7:13]) if reply[5] == "1" else None
        return Stale(slot, record)

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
            raw = self.client.get(self._key("rec", record_id, tag))
        except _UNAVAILABLE as exc:
            self._unavailable("read", exc)
        if raw is None:
            return None
        return _hold(record_id, _s(raw).split("\0"))

    def records(self, slot_id: str) -> list[Hold]:
        tag = slot_tag(slot_id)
        flat = self._evalsha(RECORDS_SHA, RECORDS_SCRIPT, [self._key("recs", slot_id, tag)],
                             self._base(tag))
        return [_hold(_s(flat[i]), _s(flat[i + 1]).split("\0"))
                for i in range(0, len(flat), 2)]

    def active(self, slot_id: str) -> list[Hold]:
        return [r for r in self.records(slot_id) if r.status == ACTIVE]

    def history(self, slot_id: str) -> list[HistoryEntry]:
        try:
            rows = self.client.lrange(self._key("hist", slot_id), 0, -1)
        except _UNAVAILABLE as exc:
            self._unavailable("read", exc)
        entries = []
        for raw in rows:
            # version, event, source, target, user, at, the change's flags, ref
            v, event, source, target, user, at, flags, ref = _s(raw).split("\0")[:8]
            entries.append(HistoryEntry(
                slot_id, int(v), event, None if flags[1] == "1" else source, target,
                user if flags[3] == "1" else None, float(at), ref or None, flags[8] == "1"))
        return entries

    def close(self) -> None:
        """Close the connection pool (only one this store opened itself)."""
        if self._owned:
            self.client.close()
