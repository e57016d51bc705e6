"""The worker's /status page in headless Chromium (Debian package), after drift.

The DOM that Chromium built must show the model in state drift, the features
that drifted and the retrain request the worker published; the screenshot is
kept in the test's tmp dir and copied to tests/artifacts/status-page.png.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import ROOT

from .ops_stack import OpsStack

pytestmark = pytest.mark.integration

ARTIFACT = ROOT / "tests" / "artifacts" / "status-page.png"
WIDTH, HEIGHT = 1280, 800


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("chromium not on PATH: run `make ops-tools` (apt-get install chromium)", pytrace=False)


def _run_chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / "chromium-profile"
    profile.mkdir(exist_ok=True)
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
           f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", "--virtual-time-budget=5000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, cwd=tmp)  # noqa: S603


class _Tables(HTMLParser):
    """Rows of every table, by table id / class: list of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id") or a.get("class") or "table"
            self.tables.setdefault(self._table, [])
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_status_page_in_headless_chromium(ops_stack: OpsStack, tmp_path: Path) -> None:
    url = ops_stack.worker.url + "/status"
    dom = _run_chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = _Tables()
    parser.feed(dom.stdout)

    models = {(r[0], r[1]): r for r in parser.tables["models"][1:]}
    row = models[("fraud-detector", "v1")]
    assert row[2] == "drift"
    # the model row lists the last window's drifting features: both changed inputs, no unchanged one
    shown = set(row[6].split(", "))
    assert {"amount", "country"} <= shown and not shown & {"age", "account_age_days", "merchant_category"}
    features = parser.tables["features"]
    assert features[0] == ["feature", "detector", "statistic", "threshold", "p-value", "decision"]
    drifted = {r[0] for r in features[1:] if r[5] == "drift"}
    assert {"amount", "country"} <= drifted and "age" not in drifted
    requests = parser.tables["requests"][1:]
    # newest first on the page; the topic (one partition per model) is in publication order
    assert [r[0] for r in requests] == ops_stack.retrain_request_ids[::-1]
    assert requests[0][1:3] == ["fraud-detector", "v1"]
    assert re.search(r"Worker:\s*<span[^>]*>ready</span>", dom.stdout)

    shot = tmp_path / "status-page.png"
    result = _run_chromium(tmp_path, f"--screenshot={shot}", url)
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (WIDTH, HEIGHT)
    ARTIFACT.parent.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACT)
