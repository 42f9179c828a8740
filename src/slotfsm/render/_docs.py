"""The generated reference pages under ``docs/reference/``."""

from __future__ import annotations

from .._default import SLOT_LIFECYCLE
from ._model import diagram, record_diagram
from ._text import reference_page

__all__ = ["REFERENCE_PAGES", "reference_pages"]

#: The command that regenerates the pages (named in each page's header).
GENERATOR = "python scripts/gen_docs.py"

#: file name -> record kind (``None``: the slot lifecycle itself).
REFERENCE_PAGES = {
    "slot-lifecycle.md": None,
    "reservation-lifecycle.md": "reservation",
    "session-lifecycle.md": "session",
}


def reference_pages() -> dict[str, str]:
    """The text of every reference page of the default lifecycle, by file name."""
    pages = {}
    for name, kind in REFERENCE_PAGES.items():
        d = diagram(SLOT_LIFECYCLE) if kind is None else record_diagram(SLOT_LIFECYCLE, kind)
        pages[name] = reference_page(d, source=GENERATOR)
    return pages
