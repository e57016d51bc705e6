"""The comparison report: inline SVG plots read back from the DOM headless Chromium builds."""

from __future__ import annotations

import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import stream_monitor
from stream_monitor.api import Comparison
from stream_monitor.report.page import Point, bars, line, plotted
from tests.conftest import ROOT
from tests.tool_markers import program

ARTIFACT = ROOT / "tests" / "artifacts" / "report.png"


class _Plots(HTMLParser):
    """Every SVG element of a DOM with its attributes, in document order, with the chart it is in."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[dict[str, str | None]] = []
        self.items: list[tuple[int, str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "svg":
            self.charts.append(a)
        elif tag in ("rect", "circle", "line", "polyline") and self.charts:
            self.items.append((len(self.charts) - 1, tag, a))

    def of(self, chart: int, cls: str) -> list[dict[str, str | None]]:
        return [a for i, _, a in self.items if i == chart and cls in (a.get("class") or "").split()]


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [program("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
           f"--user-data-dir={tmp / 'profile'}", "--window-size=1280,1600", "--virtual-time-budget=3000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, cwd=tmp)  # noqa: S603


def _data(n: int, seed: int, shift: float) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    return [{"amount": float(a), "age": float(b), "plan": str(c)}
            for a, b, c in zip(rng.normal(100 + shift, 15, n), rng.normal(40, 9, n),
                               rng.choice(["basic", "pro", "team"], n, p=[0.6, 0.3, 0.1] if not shift else
                                          [0.3, 0.3, 0.4]), strict=True)]


@pytest.fixture(scope="module")
def result() -> Comparison:
    return stream_monitor.compare(_data(3000, 1, 0.0), _data(3000, 2, 12.0),
                                  {"window": {"events": 1000}})


@pytest.mark.integration
@pytest.mark.chromium
def test_report_plots_in_headless_chromium(result: Comparison, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result.to_html(page)
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    plots = _Plots()
    plots.feed(dom.stdout)
    kinds = [(c.get("class"), c.get("data-feature") or c.get("data-series")) for c in plots.charts]
    hists = {name: i for i, (cls, name) in enumerate(kinds) if cls == "chart hist"}
    series = {name: i for i, (cls, name) in enumerate(kinds) if cls == "chart series"}
    assert set(hists) == {"amount", "age", "plan"}
    plan = next(d for d in result.distributions if d.feature == "plan")
    cur = [float(a["data-share"] or 0) for a in plots.of(hists["plan"], "cur")]
    assert cur == pytest.approx([c / sum(plan.current) for c in plan.current], abs=1e-4)
    # one point per window (3), the last threshold as a dashed line; drifted windows marked
    ks = series["amount/ks"]
    points = plots.of(ks, "point")
    readings = [r for r in result.readings if (r.feature, r.detector) == ("amount", "ks")]
    # KS is a p-value test: plotted as -log10 p against -log10 of the corrected alpha
    shown = [plotted(r.value, r.threshold, r.p_value) for r in readings]
    assert [float(p["data-value"] or 0) for p in points] == pytest.approx([v for v, _, _ in shown], rel=1e-5)
    assert len(points) == 3 and all("fired" in (p["class"] or "") for p in points)
    (threshold,) = plots.of(ks, "threshold")
    assert float(threshold["data-value"] or 0) == pytest.approx(shown[-1][1], rel=1e-5)
    psi = [r for r in result.readings if (r.feature, r.detector) == ("amount", "psi")]
    (psi_line,) = plots.of(series["amount/psi"], "threshold")  # a distance: the statistic itself
    assert float(psi_line["data-value"] or 0) == pytest.approx(psi[-1].threshold, rel=1e-5)
    assert not [p for p in plots.of(series["age/ks"], "point") if "fired" in (p["class"] or "")]
    shot = tmp_path / "report.png"
    done = _chromium(tmp_path, f"--screenshot={shot}", page.as_uri())
    assert done.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", done.stderr[-2000:]
    assert struct.unpack(">II", shot.read_bytes()[16:24]) == (1280, 1600)
    ARTIFACT.parent.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACT)


def test_report_is_self_contained_and_escaped(tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>"
    result = stream_monitor.compare([{"c": evil if i % 2 else "a"} for i in range(400)],
                                    [{"c": evil} for _ in range(400)])
    page = result.to_html()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "src=" not in page and "href=" not in page and "@import" not in page


def test_svg_charts_are_well_formed_and_finite() -> None:
    hist = ET.fromstring(bars("x<1", ["a", "b&c"], [1, 3], [0, 0], feature="x"))  # noqa: S314 - our own output
    assert [r.get("data-share") for r in hist.iter("{http://www.w3.org/2000/svg}rect")] == [
        "0.2500", "0.0000", "0.7500", "0.0000"]
    chart = line("s", [Point(float("inf"), "w0"), Point(0.2, "w1", fired=True)], float("nan"))
    svg = ET.fromstring(chart)  # noqa: S314
    circles = list(svg.iter("{http://www.w3.org/2000/svg}circle"))
    assert [c.get("data-finite") for c in circles] == ["false", "true"]
    assert "nan" not in "".join(c.get("cy", "") for c in circles) and "threshold" not in chart
