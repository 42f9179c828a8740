"""Run the benchmark sections, print the table, write results.json, results.md, chart.png.

Usage::

    python -m benchmarks                     # full run (about 10-15 minutes)
    python -m benchmarks --smoke             # tiny counts, well under a minute
    python -m benchmarks --only operation    # some sections (merged into existing results)
    python -m benchmarks --out /tmp/bench    # somewhere other than docs/benchmarks
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import contention, deciding, memory, operation, report, scale
from ._common import FULL, SMOKE, Context, section
from ._servers import Servers
from ._timing import log

SECTIONS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "deciding": deciding.run,
    "operation": operation.run,
    "contention": contention.run,
    "scale": scale.run,
    "memory": memory.run,
}
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("slotfsm", "transitions", "python-statemachine", "psycopg", "redis",
                 "attrs", "matplotlib"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    import sqlite3

    out["sqlite"] = sqlite3.sqlite_version
    return out


def _git_head() -> str:
    """The commit measured, with "+dirty" when the working tree differs from it."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return "unknown"
    return f"{head}{'+dirty' if dirty.strip() else ''}" or "unknown"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny counts (CI)")
    parser.add_argument("--only", action="append", choices=list(SECTIONS), metavar="SECTION",
                        help=f"run only this section (repeatable): {', '.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="directory for results.json, results.md, chart.png")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # A SIGTERM must still stop the servers this process started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    chosen = args.only or list(SECTIONS)
    mode = "smoke" if args.smoke else "full"
    started = time.monotonic()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"sections": {}}
    previous = out / "results.json"
    if args.only and previous.exists():
        # Merge: keep the other sections of the last run of the same mode.
        try:
            old = json.loads(previous.read_text())
            if old.get("meta", {}).get("mode") == mode:
                results["sections"] = old.get("sections", {})
        except (ValueError, OSError):
            pass
    servers = Servers()
    failed = False
    with tempfile.TemporaryDirectory(prefix="slotfsm-bench-") as tmp:
        ctx = Context(SMOKE if args.smoke else FULL, args.smoke, Path(tmp).resolve(), servers)
        try:
            for name in chosen:
                log(f"== {name}")
                try:
                    results["sections"][name] = SECTIONS[name](ctx)
                except Exception as exc:  # one broken section must not lose the others
                    failed = True
                    traceback.print_exc()
                    results["sections"][name] = {
                        **section(name), "status": "failed",
                        "reason": f"{type(exc).__name__}: {exc}",
                    }
            server_settings = servers.settings()
        finally:
            servers.close()
    results["sections"] = {k: results["sections"][k] for k in SECTIONS
                           if k in results["sections"]}
    results["meta"] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": mode,
        "sections_run": chosen,
        "command": shlex.join(["python", "-m", "benchmarks", *(argv if argv is not None
                                                                else sys.argv[1:])]),
        "git": _git_head(),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "versions": _versions(),
        "servers": server_settings,
        "wall_s": time.monotonic() - started,
    }
    results["targets"] = report.targets(results)
    (out / "results.json").write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    text = report.markdown(results)
    (out / "results.md").write_text(text + "\n")
    report.chart(results, out / "chart.png")
    print(text)
    log(f"wrote {out / 'results.json'}, results.md, chart.png")
    return 1 if failed else 0
