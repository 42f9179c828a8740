"""slotfsm: the lifecycle of a bookable resource as a declared finite-state machine.

Declare the lifecycle once (:class:`Lifecycle`, or the EV charging default
:data:`SLOT_LIFECYCLE`); a :class:`SlotManager` decides every change through it and a
store applies each change atomically with a compare-and-set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._default import SLOT_LIFECYCLE
from ._lifecycle import Guard, Lifecycle, Transition
from ._manager import SlotManager
from ._records import (
    Applied,
    ChargingSession,
    HistoryEntry,
    Hold,
    Reservation,
    Slot,
)
from .errors import (
    Forbidden,
    InvalidDefinition,
    InvalidInput,
    NotFound,
    SlotConflict,
    SlotFSMError,
    StoreUnavailable,
)
from .stores import MemoryStore, SQLiteStore, Store, open_store

if TYPE_CHECKING:
    from .stores.postgres import PostgresStore
    from .stores.redis import RedisStore

__version__ = "0.1.0"

__all__ = [
    "SLOT_LIFECYCLE",
    "Applied",
    "ChargingSession",
    "Forbidden",
    "Guard",
    "HistoryEntry",
    "Hold",
    "InvalidDefinition",
    "InvalidInput",
    "Lifecycle",
    "MemoryStore",
    "NotFound",
    "PostgresStore",
    "RedisStore",
    "Reservation",
    "SQLiteStore",
    "Slot",
    "SlotConflict",
    "SlotFSMError",
    "SlotManager",
    "Store",
    "StoreUnavailable",
    "Transition",
    "open_store",
]

_DRIVER_STORES = {"PostgresStore": "postgresql", "RedisStore": "redis"}


def __getattr__(name: str) -> Any:
    # Driver-backed stores import their driver only when first named.
    if name in _DRIVER_STORES:
        from .stores import load_store_class

        return load_store_class(_DRIVER_STORES[name])
    raise AttributeError(f"module 'slotfsm' has no attribute {name!r}")
