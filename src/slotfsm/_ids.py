"""Record ids and slot tags.

A record id embeds its slot's tag (a short hash of the slot id), so a store that shards
by slot (Redis Cluster hash tags) finds a record's keys from its id alone::

    r_<tag>_<unique>      reservation
    s_<tag>_<unique>      charging session
    <kind>_<tag>_<unique> other kinds
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os

_PREFIX = {"reservation": "r", "session": "s"}


@functools.lru_cache(maxsize=4096)  # bounded: hot slots skip the hash, memory stays flat
def slot_tag(slot_id: str) -> str:
    """Eight hex digits that every key of one slot shares."""
    return hashlib.blake2b(slot_id.encode("utf-8"), digest_size=4).hexdigest()


def tag_of(record_id: str) -> str | None:
    """The slot tag embedded in a record id, or ``None`` if the id is not one of ours."""
    parts = record_id.split("_")
    if len(parts) < 3:
        return None
    tag = parts[-2]
    if len(tag) != 8 or any(c not in "0123456789abcdef" for c in tag):
        return None
    return tag


class _Unique:
    """Process-unique suffixes: a random per-process prefix and a counter."""

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        self.process = os.urandom(6).hex()
        self.counter = itertools.count(1)


_unique = _Unique()
# A forked child must not reuse its parent's prefix and counter.
os.register_at_fork(after_in_child=_unique.reseed)


def record_id(kind: str, slot_id: str, unique: str) -> str:
    """The id of record ``unique`` of ``kind`` on ``slot_id``, in the shape above.

    ``unique`` must not contain ``_``; a deterministic ``new_id`` (tests, models) builds
    its ids with this so sharded stores can route them.
    """
    return f"{_PREFIX.get(kind, kind)}_{slot_tag(slot_id)}_{unique}"


def new_record_id(kind: str, slot_id: str) -> str:
    """A fresh, globally unique record id for ``kind`` on ``slot_id``."""
    return record_id(kind, slot_id, f"{_unique.process}{next(_unique.counter):x}")
