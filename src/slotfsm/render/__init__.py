"""slotfsm.render: documentation from one model.

A Lifecycle is extracted once into a :class:`Diagram` (states, initial, edges with event,
guards by name and record effect); small renderers turn it into a Markdown transition
table, a Mermaid ``stateDiagram-v2``, Graphviz DOT text, or SVG/PNG via the ``dot``
binary. The record lifecycles (reservation, session, ...) are derived from the slot
lifecycle's ``opens``/``closes``/``outcome`` and render the same way.

Example::

    >>> from slotfsm import SLOT_LIFECYCLE
    >>> from slotfsm.render import diagram, mermaid
    >>> print(mermaid(diagram(SLOT_LIFECYCLE)).splitlines()[2])
        available --> booked: book / opens reservation
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InvalidInput
from ._docs import REFERENCE_PAGES, reference_pages
from ._image import IMAGE_FORMATS, GraphvizMissing, render_image
from ._model import Diagram, Edge, diagram, record_diagram, record_diagrams, record_kinds
from ._text import dot, markdown_table, mermaid, reference_page

if TYPE_CHECKING:
    from .._lifecycle import Lifecycle

#: The formats :func:`render` knows.
FORMATS = ("md", "mermaid", "dot", "svg", "png")


def render(lifecycle: Lifecycle, fmt: str = "md", *, record: str | None = None) -> str | bytes:
    """Render a lifecycle (or, with ``record``, one record kind's lifecycle).

    Args:
        lifecycle: The slot lifecycle.
        fmt: ``md`` (the transition table), ``mermaid``, ``dot``, ``svg`` or ``png``
            (bytes, via the Graphviz ``dot`` binary).
        record: A record kind ("reservation") to render instead of the slot lifecycle.

    Raises:
        InvalidInput: an unknown format or record kind.
        GraphvizMissing: ``svg``/``png`` without Graphviz installed.
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    d = diagram(lifecycle) if record is None else record_diagram(lifecycle, record)
    if fmt == "md":
        return markdown_table(d)
    if fmt == "mermaid":
        return mermaid(d)
    if fmt == "dot":
        return dot(d)
    return render_image(dot(d), fmt)

__all__ = [
    "FORMATS",
    "IMAGE_FORMATS",
    "REFERENCE_PAGES",
    "Diagram",
    "Edge",
    "GraphvizMissing",
    "diagram",
    "dot",
    "markdown_table",
    "mermaid",
    "record_diagram",
    "record_diagrams",
    "record_kinds",
    "reference_page",
    "reference_pages",
    "render",
    "render_image",
]
