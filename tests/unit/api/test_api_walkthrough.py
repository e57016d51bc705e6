"""docs/walkthrough.md runs: its python code blocks, executed in order in an empty directory."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytest.importorskip("pandas")

DOC = ROOT / "docs" / "walkthrough.md"


def _blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


def test_walkthrough_runs_top_to_bottom(tmp_path: Path) -> None:
    blocks = _blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 6
    namespace: dict[str, object] = {"__name__": "__walkthrough__"}
    out = io.StringIO()
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        for i, code in enumerate(blocks):
            with contextlib.redirect_stdout(out):
                exec(compile(code, f"{DOC.name}[block {i}]", "exec"), namespace)  # noqa: S102 - our own docs
    finally:
        os.chdir(cwd)
    printed = out.getvalue()
    assert (tmp_path / "report.html").is_file() and (tmp_path / "monitor.yaml").is_file()
    assert "state: drift" in printed and '"request_id"' in printed
    assert "6000 schema_violation" in printed and "6001 invalid_json" in printed  # refused, with reasons
    assert re.search(r"window \d+: \d+ events, state drift, drifted amount, country", printed)
