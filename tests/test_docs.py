"""Docs cannot rot: reference pages match the code, guide examples run as doctests.

Convention: every ```python block in docs/guides/*.md and README.md runs, in order, in
one namespace per file. A block written with ``>>>`` prompts is a doctest (its shown
output is checked too); the guides use that style. A block without prompts is a script
(its asserts are the checks); README.md uses that style.
"""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
from pathlib import Path

import pytest

from slotfsm.render import REFERENCE_PAGES, reference_pages

ROOT = Path(__file__).resolve().parent.parent
GUIDES = sorted((ROOT / "docs" / "guides").glob("*.md"))
DOCTESTED = [*GUIDES, ROOT / "README.md"]
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


class TestReferencePages:
    """docs/reference/*.md are generated; a change to the lifecycle must regenerate them."""

    @pytest.mark.parametrize("name", list(REFERENCE_PAGES))
    def test_page_matches_code(self, name: str) -> None:
        """Regenerated in memory, the page equals the committed one."""
        path = ROOT / "docs" / "reference" / name
        assert path.exists(), "run: python scripts/gen_docs.py"
        assert path.read_text(encoding="utf-8") == reference_pages()[name], (
            f"docs/reference/{name} drifted from the code; run: python scripts/gen_docs.py"
        )

    def test_script_check_mode(self) -> None:
        """The script CI runs agrees (exit 0 when nothing drifted)."""
        done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr

    def test_pages_have_table_and_mermaid(self) -> None:
        """Each page has the transition table and an inline Mermaid diagram."""
        for text in reference_pages().values():
            assert "| State | Event | Guards | Target | Record effect |" in text
            assert "```mermaid\nstateDiagram-v2\n" in text


class TestGuides:
    """The hand-written guides exist and their Python examples run."""

    def test_guides_exist(self) -> None:
        """The four guides are there."""
        assert {p.name for p in GUIDES} >= {
            "quickstart.md", "embedding.md", "custom-store.md", "testing.md"}

    @pytest.mark.parametrize("path", GUIDES, ids=lambda p: p.name)
    def test_guide_blocks_are_doctests(self, path: Path) -> None:
        """Guides show output, so every python block in them uses prompts."""
        for block in PYTHON_BLOCK.findall(path.read_text(encoding="utf-8")):
            assert block.lstrip().startswith(">>>"), f"{path.name}: block without >>>"

    @pytest.mark.parametrize("path", DOCTESTED, ids=lambda p: p.relative_to(ROOT).as_posix())
    def test_examples_run(self, path: Path) -> None:
        """The python blocks pass as one doctest session per file."""
        blocks = PYTHON_BLOCK.findall(path.read_text(encoding="utf-8"))
        if not blocks:
            pytest.skip(f"{path.name} has no python blocks")
        namespace: dict[str, object] = {"__name__": f"docs_{path.stem}"}
        parser = doctest.DocTestParser()
        for number, block in enumerate(blocks, 1):
            where = f"{path.name}, python block {number}"
            if block.lstrip().startswith(">>>"):
                test = parser.get_doctest(block, namespace, where, str(path), 0)
                runner = doctest.DocTestRunner(
                    optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
                report: list[str] = []
                runner.run(test, out=report.append, clear_globs=False)
                namespace.update(test.globs)  # DocTest ran on a copy
                assert runner.failures == 0, "".join(report)
            else:
                exec(compile(block, where, "exec"), namespace)
