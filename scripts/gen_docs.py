"""Regenerate docs/reference/*.md from the code (``--check``: fail if they drifted).

Developers and CI run the same command: ``python scripts/gen_docs.py [--check]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from slotfsm.render import reference_pages

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report drift (exit 1)")
    args = parser.parse_args(argv)
    stale = []
    for name, text in reference_pages().items():
        path = REFERENCE / name
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(name)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    verb = "out of date" if args.check else "written"
    for name in stale:
        print(f"docs/reference/{name}: {verb}", file=sys.stderr)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
