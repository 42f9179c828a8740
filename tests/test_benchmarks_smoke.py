"""The benchmark runs end to end in smoke mode and writes well-formed outputs.

Timings are never asserted: machines are noisy. Only that every section ran (or says
clearly why a part was skipped) and that the JSON, Markdown and PNG are well formed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ["deciding", "operation", "contention", "scale", "memory"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "benchmarks", "--smoke", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return out, done.stdout


class TestSmokeRun:
    def test_json_has_every_section(self, smoke: tuple[Path, str]) -> None:
        """results.json parses and holds all five sections, none failed."""
        results = json.loads((smoke[0] / "results.json").read_text())
        assert list(results["sections"]) == SECTIONS
        for name, sec in results["sections"].items():
            assert sec["status"] in ("ok", "partial"), (name, sec.get("reason"))
            assert sec["rows"], name
        assert results["meta"]["mode"] == "smoke"

    def test_rows_are_well_formed(self, smoke: tuple[Path, str]) -> None:
        """Measured rows carry positive medians and ratios; skipped rows say why."""
        sections = json.loads((smoke[0] / "results.json").read_text())["sections"]
        for row in sections["deciding"]["rows"]:
            assert row["median_ns"] > 0 and row["ratio"] > 0
        for row in sections["operation"]["rows"] + sections["scale"]["rows"]:
            assert row.get("skipped") or row["ratio"] > 0
        for row in sections["contention"]["rows"]:
            if "skipped" not in row:
                assert row["lost"] == 0 and row["invariants_ok"], row
        assert sections["memory"]["rows"][0]["slots"] > 0

    def test_targets_are_marked(self, smoke: tuple[Path, str]) -> None:
        """Every target is met, missed or skipped: never silently absent."""
        results = json.loads((smoke[0] / "results.json").read_text())
        names = " ".join(t["name"] for t in results["targets"])
        for store in ("MemoryStore", "SQLiteStore", "PostgresStore", "RedisStore"):
            assert store in names
        for t in results["targets"]:
            assert t["skipped"] or isinstance(t["met"], bool)

    def test_markdown_and_chart(self, smoke: tuple[Path, str]) -> None:
        """results.md has the targets table and every section; chart.png is a PNG."""
        out, stdout = smoke
        text = (out / "results.md").read_text()
        assert "## Targets" in text and text.strip() in stdout
        for title in ("Deciding", "Whole operation", "Contention", "Scale", "Memory"):
            assert f"## {title}" in text
        assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
