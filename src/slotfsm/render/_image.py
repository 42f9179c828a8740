"""SVG and PNG: DOT text piped to the Graphviz ``dot`` binary, when it is installed."""

from __future__ import annotations

import shutil
import subprocess

from ..errors import InvalidInput

__all__ = ["IMAGE_FORMATS", "GraphvizMissing", "render_image"]

IMAGE_FORMATS = ("svg", "png")


class GraphvizMissing(RuntimeError):
    """The ``dot`` binary is not installed (DOT text itself needs none)."""


def render_image(dot_text: str, fmt: str = "svg", *, binary: str = "dot",
                 timeout: float = 30.0) -> bytes:
    """Render DOT text to ``svg`` or ``png`` bytes with Graphviz.

    Raises:
        InvalidInput: an unknown format.
        GraphvizMissing: ``dot`` is not on PATH (install the ``graphviz`` package).
        RuntimeError: ``dot`` failed; its message is included.
    """
    if fmt not in IMAGE_FORMATS:
        raise InvalidInput(f"image format must be one of {list(IMAGE_FORMATS)}, not {fmt!r}")
    path = shutil.which(binary)
    if path is None:
        raise GraphvizMissing(
            f"Graphviz '{binary}' is not installed (e.g. apt install graphviz); "
            "use the 'dot' or 'mermaid' format for text that needs no binary"
        )
    done = subprocess.run([path, f"-T{fmt}"], input=dot_text.encode("utf-8"),
                          capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"Graphviz failed: {done.stderr.decode('utf-8', 'replace').strip()}")
    return done.stdout
