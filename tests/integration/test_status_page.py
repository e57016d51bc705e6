"""The worker's /status page in headless Chromium (Debian package), after drift.

The DOM that Chromium built must show the model in state drift (with the k of n
drifting windows behind it), the features that drifted, the retrain request the
worker published with its times, and the SVG plots: reference vs current bars of
every feature and each detector's statistic per window against its threshold.
The screenshots are kept in the test's tmp dir and copied to tests/artifacts/
(status-page.png: the first screen; status-page-full.png: the whole page).
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.tool_markers import program

from .ops_stack import OpsStack

pytestmark = [
    pytest.mark.integration, pytest.mark.broker, pytest.mark.prometheus,
    pytest.mark.alertmanager, pytest.mark.chromium,
]

ARTIFACT = ROOT / "tests" / "artifacts" / "status-page.png"
WIDTH, HEIGHT = 1280, 800


def _run_chromium(tmp: Path, *args: str, height: int = HEIGHT) -> subprocess.CompletedProcess[str]:
    profile = tmp / "chromium-profile"
    profile.mkdir(exist_ok=True)
    cmd = [program("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
           f"--user-data-dir={profile}", f"--window-size={WIDTH},{height}", "--virtual-time-budget=5000", *args]
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


class _Plots(HTMLParser):
    """The SVG charts of one model version's plot section: chart attributes and their elements."""

    def __init__(self, model: str, version: str) -> None:
        super().__init__()
        self.want = (model, version)
        self.inside = False
        self.charts: list[dict[str, str | None]] = []
        self.items: list[tuple[int, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self.inside = (a.get("data-model"), a.get("data-version")) == self.want
        elif self.inside and tag == "svg":
            self.charts.append(a)
        elif self.inside and self.charts and tag in ("rect", "circle", "line"):
            self.items.append((len(self.charts) - 1, a))

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self.inside = False

    def chart(self, cls: str, name: str) -> int:
        key = "data-feature" if cls == "hist" else "data-series"
        return next(i for i, c in enumerate(self.charts) if cls in (c.get("class") or "") and c.get(key) == name)

    def of(self, chart: int, cls: str) -> list[dict[str, str | None]]:
        return [a for i, a in self.items if i == chart and cls in (a.get("class") or "").split()]


def _check_plots(dom: str, status: dict) -> None:  # type: ignore[type-arg]
    model = next(m for m in status["models"] if (m["model"], m["version"]) == ("fraud-detector", "v1"))
    plots = _Plots("fraud-detector", "v1")
    plots.feed(dom)
    hists = {c.get("data-feature") for c in plots.charts if "hist" in (c.get("class") or "")}
    assert hists == {d["feature"] for d in model["distributions"]} and "amount" in hists
    amount = plots.chart("hist", "amount")
    ref = [float(a["data-share"] or 0) for a in plots.of(amount, "ref")]
    cur = [float(a["data-share"] or 0) for a in plots.of(amount, "cur")]
    assert len(ref) == len(cur) > 2 and abs(sum(ref) - 1) < 1e-3 and abs(sum(cur) - 1) < 1e-3
    ks = plots.chart("series", "amount/ks")
    points = plots.of(ks, "point")
    series = next(s for s in model["series"] if (s["feature"], s["detector"]) == ("amount", "ks"))
    assert len(points) == len(series["points"]) >= 4  # one per closed window
    assert any("fired" in (p["class"] or "") for p in points)  # the drifted windows
    assert not all("fired" in (p["class"] or "") for p in points)  # the stationary ones
    assert len(plots.of(ks, "threshold")) == 1


def test_status_page_in_headless_chromium(ops_stack: OpsStack, tmp_path: Path) -> None:
    url = ops_stack.worker.url + "/status"
    dom = _run_chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = _Tables()
    parser.feed(dom.stdout)

    models = {(r[0], r[1]): r for r in parser.tables["models"][1:]}
    row = models[("fraud-detector", "v1")]
    assert row[2].split()[0] == "drift"
    k, n = (int(x) for x in re.fullmatch(r"(\d+) of (\d+)", row[3]).groups())  # type: ignore[union-attr]
    assert 1 <= k <= n
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
    assert all(re.fullmatch(r"20\d\d-\d\d-\d\d \d\d:\d\d:\d\dZ", r[6]) for r in requests)  # published at
    with urllib.request.urlopen(ops_stack.worker.url + "/status.json", timeout=10) as resp:  # noqa: S310
        _check_plots(dom.stdout, json.load(resp))

    shot = tmp_path / "status-page.png"
    result = _run_chromium(tmp_path, f"--screenshot={shot}", url)
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (WIDTH, HEIGHT)
    ARTIFACT.parent.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACT)
    full = tmp_path / "status-page-full.png"
    result = _run_chromium(tmp_path, f"--screenshot={full}", url, height=3600)
    assert result.returncode == 0 and full.is_file(), result.stderr[-2000:]
    shutil.copyfile(full, ARTIFACT.with_name("status-page-full.png"))
