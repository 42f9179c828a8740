"""Every error slotfsm raises, under one root.

Hierarchy::

    SlotFSMError                    root; .http_status, .to_dict()
    ├── SlotConflict        409     the slot's status (or a guard) refuses the event,
    │                               or the slot moved on while we decided
    ├── NotFound            404     unknown slot, reservation or charging session
    ├── Forbidden           403     the record belongs to another user
    ├── InvalidInput        400     bad ids, unknown events, wrong types (also a ValueError)
    ├── StoreUnavailable    503     the database is unreachable; retry later
    └── InvalidDefinition   500     a bad Lifecycle, raised when it is declared (also a ValueError)

Each error carries its context as attributes (``slot_id``, ``event``, ``status``,
``guard``, ``record_id``, ``user``) and renders the body a REST backend returns::

    >>> from slotfsm.errors import SlotConflict
    >>> SlotConflict("Slot is booked and not available for charging").to_dict()
    {'success': False, 'error': 'Conflict', 'message': 'Slot is booked and not available for charging'}

A host maps them to HTTP in one line, e.g. in Flask::

    return jsonify(err.to_dict()), err.http_status
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "Forbidden",
    "InvalidDefinition",
    "InvalidInput",
    "NotFound",
    "SlotConflict",
    "SlotFSMError",
    "StoreUnavailable",
]


class SlotFSMError(Exception):
    """Root of every slotfsm error.

    Attributes:
        message: The human-readable message (also ``str(err)``).
        http_status: The HTTP status a web backend should answer with.
        error: The HTTP reason phrase used as ``"error"`` in :meth:`to_dict`.
        slot_id, event, status, guard, record_id, user: Context, ``None`` when unknown.
    """

    http_status: ClassVar[int] = 500
    error: ClassVar[str] = "Internal Server Error"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        slot_id: str | None = None,
        event: str | None = None,
        status: str | None = None,
        guard: str | None = None,
        record_id: str | None = None,
        user: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.slot_id = slot_id
        self.event = event
        self.status = status
        self.guard = guard
        self.record_id = record_id
        self.user = user

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON body a REST backend answers with.

        Returns:
            ``{"success": False, "error": <reason phrase>, "message": <message>}``.
        """
        return {"success": False, "error": self.error, "message": self.message}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class SlotConflict(SlotFSMError):
    """409: the current status or a guard refuses the event (or the slot moved on)."""

    http_status = 409
    error = "Conflict"


class NotFound(SlotFSMError):
    """404: no slot, reservation or charging session with that id."""

    http_status = 404
    error = "Not Found"


class Forbidden(SlotFSMError):
    """403: only the user who holds a reservation or session may end it."""

    http_status = 403
    error = "Forbidden"


class InvalidInput(SlotFSMError, ValueError):
    """400: an id, user, event or argument is malformed."""

    http_status = 400
    error = "Bad Request"


class StoreUnavailable(SlotFSMError):
    """503: the store's server cannot be reached; retry later.

    Nothing is ever half-applied, but a commit whose reply was lost may have been applied
    whole: read the slot (or the record) before retrying a change that must not repeat.
    """

    http_status = 503
    error = "Service Unavailable"
    retryable = True


class InvalidDefinition(SlotFSMError, ValueError):
    """A Lifecycle declaration is wrong; raised when it is declared, naming the part."""
