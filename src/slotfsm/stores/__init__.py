"""Stores: where slots, their records and their history live.

``MemoryStore`` and ``SQLiteStore`` need nothing beyond the standard library;
``PostgresStore`` (extra ``slotfsm[postgres]``) and ``RedisStore`` (extra
``slotfsm[redis]``) import their drivers only when used.
"""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import InvalidInput
from ._base import Store
from ._url import redact, scheme_of
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = ["MemoryStore", "SQLiteStore", "Store", "open_store"]

# scheme -> (module, class, extra that installs its driver)
_LAZY = {
    "postgresql": ("slotfsm.stores.postgres", "PostgresStore", "postgres"),
    "postgres": ("slotfsm.stores.postgres", "PostgresStore", "postgres"),
    "redis": ("slotfsm.stores.redis", "RedisStore", "redis"),
    "rediss": ("slotfsm.stores.redis", "RedisStore", "redis"),
    "redis+cluster": ("slotfsm.stores.redis", "RedisStore", "redis"),
    "rediss+cluster": ("slotfsm.stores.redis", "RedisStore", "redis"),
}

_SQLITE_OPTIONS = {"synchronous": str, "timeout": float, "prefix": str}


def load_store_class(scheme: str) -> Any:
    """Import the store class for a lazily loaded scheme (raises naming the extra)."""
    module_name, cls_name, _extra = _LAZY[scheme]
    module = importlib.import_module(module_name)
    return getattr(module, cls_name)


def open_store(url: str, **options: Any) -> Store:
    """Open a store from a URL.

    Args:
        url: ``memory://``; ``sqlite:///relative.db``, ``sqlite:////abs/path.db`` (query
            options ``synchronous``, ``timeout``, ``prefix``); ``postgresql://…``;
            ``redis://…`` or ``redis+cluster://…``.
        **options: Keyword arguments for the store class.

    Raises:
        InvalidInput: the URL is malformed or its scheme unknown.
        ImportError: the driver is missing; the message names the extra to install.

    Example::

        >>> open_store("memory://")
        MemoryStore()
    """
    if not isinstance(url, str) or not url:
        raise InvalidInput(f"store URL must be a non-empty string, not {type(url).__name__}")
    scheme = scheme_of(url)
    if scheme == "memory":
        return MemoryStore(**options)
    if scheme == "sqlite":
        parts = urlsplit(url)
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if parts.netloc not in ("", "localhost"):
            raise InvalidInput(f"sqlite URLs have no host: {redact(url)!r}; use sqlite:///path")
        if not path:
            raise InvalidInput(f"sqlite URL {redact(url)!r} names no file; use sqlite:///slots.db")
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key not in _SQLITE_OPTIONS:
                raise InvalidInput(f"unknown sqlite URL option {key!r}; "
                                   f"known: {', '.join(_SQLITE_OPTIONS)}")
            try:
                options.setdefault(key, _SQLITE_OPTIONS[key](value))
            except ValueError:
                raise InvalidInput(f"sqlite URL option {key}={value!r} is malformed") from None
        return SQLiteStore(path, **options)
    if scheme in _LAZY:
        cls = load_store_class(scheme)
        store: Store = cls.from_url(url, **options)
        return store
    known = "memory://, sqlite:///path, postgresql://…, redis://…, redis+cluster://…"
    raise InvalidInput(f"unknown store URL {redact(url)!r}; use one of {known}")
