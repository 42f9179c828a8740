"""The default slot lifecycle, from the EV charging backend's fix note.

::

    available -(book)-> booked -(cancel | complete)-> available
    available -(start)-> in_use -(stop)-> available
"""

from __future__ import annotations

from ._lifecycle import Lifecycle, Transition

__all__ = ["SLOT_LIFECYCLE"]

SLOT_LIFECYCLE: Lifecycle = Lifecycle(
    name="slot",
    states=["available", "booked", "in_use"],
    initial="available",
    transitions=[
        Transition("book", "available", "booked", opens="reservation"),
        Transition("cancel", "booked", "available", closes="reservation", outcome="cancelled"),
        Transition("complete", "booked", "available", closes="reservation", outcome="completed"),
        Transition("start", "available", "in_use", opens="session"),
        Transition("stop", "in_use", "available", closes="session", outcome="completed"),
    ],
    messages={
        # The seed's exact wording; clients match on it.
        "book": (
            "Slot {slot_id} is not available (current status: {status}). "
            "Only available slots can be booked."
        ),
        ("start", "booked"): "Slot is booked and not available for charging",
        ("start", "in_use"): "Slot is in use and not available for charging",
        "cancel": "Slot {slot_id} has no active reservation to cancel (current status: {status})",
        "complete": (
            "Slot {slot_id} has no active reservation to complete (current status: {status})"
        ),
        "stop": "Slot {slot_id} has no active charging session to stop (current status: {status})",
    },
)
