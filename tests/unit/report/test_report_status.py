"""The status view, its bounded history and the status page's SVG plots, from a real core monitor."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from stream_monitor.app.status_page import render_status
from stream_monitor.config.references import load_references
from stream_monitor.pipeline.monitor import Monitor, SourceRecord
from stream_monitor.report.history import StatusHistory, status_payload
from stream_monitor.report.page import plotted
from stream_monitor.report.status_view import version_views
from stream_monitor.settings import ServiceSettings
from stream_monitor.tools.simulate import Scenario, generate, to_json
from tests.conftest import ROOT

SVG = "{http://www.w3.org/2000/svg}"


def _svgs(page: str) -> list[ET.Element]:
    out, rest = [], page
    while "<svg" in rest:
        start = rest.index("<svg")
        end = rest.index("</svg>", start) + len("</svg>")
        out.append(ET.fromstring(rest[start:end]))  # noqa: S314 - our own output
        rest = rest[end:]
    return out


@pytest.fixture(scope="module")
def stream() -> tuple[Monitor, StatusHistory, list[dict[str, object]]]:
    settings = ServiceSettings.from_yaml(ROOT / "config" / "demo.yaml")
    mon = Monitor(settings.models, load_references(settings), max_message_bytes=1 << 20)
    history = StatusHistory(points=4)
    requests: list[dict[str, object]] = []
    events = [to_json(e) for e in generate(Scenario(kind="abrupt", change_at=3000), 6500)]
    for lo in range(0, len(events), 500):
        recs = [SourceRecord("prediction", v, "t", 0, i) for i, v in enumerate(events[lo:lo + 500], lo)]
        out = mon.observe(recs, now=2e9)
        history.record(out.reports, version_views([mon]))
        requests.extend({"request_id": r.request_id, "model_id": r.model_id, "model_version": r.model_version,
                         "severity": r.severity, "features": list(r.features), "created_at": r.created_at,
                         "published_at": 1.8e9} for r in out.requests)
    return mon, history, requests


Stream = tuple[Monitor, StatusHistory, list[dict[str, object]]]


def test_page_plots_distributions_and_statistics(stream: Stream) -> None:
    mon, history, requests = stream
    status = status_payload(version_views([mon]), history, requests[::-1])
    json.dumps(status)  # /status.json serves it as is
    page = render_status(status)
    svgs = _svgs(page)
    hists = [s for s in svgs if "hist" in s.get("class", "")]
    series = [s for s in svgs if "series" in s.get("class", "")]
    features = {f.name for f in mon.models["fraud-detector"].spec.features}
    assert {h.get("data-feature") for h in hists} == features
    for h in hists:
        ref = [float(r.get("data-share")) for r in h.iter(f"{SVG}rect") if "ref" in r.get("class", "")]
        cur = [float(r.get("data-share")) for r in h.iter(f"{SVG}rect") if "cur" in r.get("class", "")]
        assert len(ref) == len(cur) > 1 and sum(ref) == pytest.approx(1, abs=1e-3)
        assert sum(cur) == pytest.approx(1, abs=1e-3)
    by_name = {s.get("data-series"): s for s in series}
    amount = by_name["amount/ks"]
    points = [float(c.get("data-value")) for c in amount.iter(f"{SVG}circle")]
    assert len(points) == 4  # bounded to the last 4 windows
    last = mon.models["fraud-detector"].versions["v1"].last_report
    assert last is not None
    ks = next(r for r in last.readings if (r.feature, r.detector) == ("amount", "ks"))
    value, limit, unit = plotted(ks.value, ks.threshold, ks.p_value)
    assert unit == "-log10 p" and points[-1] == pytest.approx(value, rel=1e-5)
    threshold = next(x for x in amount.iter(f"{SVG}line") if x.get("class") == "threshold")
    assert float(threshold.get("data-value")) == pytest.approx(limit, rel=1e-5)
    fired = [c for c in amount.iter(f"{SVG}circle") if "fired" in c.get("class", "")]
    assert fired  # the drifted windows are marked
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "event time (UTC)" in page and "2026-" in page


def test_state_is_never_drift_with_nothing_drifting(stream: Stream) -> None:
    mon, history, _ = stream
    views = version_views([mon])
    assert views and all(v.drifting_windows >= 1 for v in views if v.state == "drift")
    vs = mon.models["fraud-detector"].versions["v1"]
    assert vs.policy.state.value == "drift"
    vs.policy.streak = 0  # a clean window in drift: hysteresis holds the state
    vs.policy.history = [True, False]
    page = render_status(status_payload(version_views([mon]), history, []))
    assert "clearing" in page and "1 of 2" in page


def test_history_is_bounded() -> None:
    from stream_monitor.decisions import Reading, WindowReport
    from stream_monitor.decisions.request import ReferenceInfo, WindowInfo
    from stream_monitor.detectors.base import DetectorState

    h = StatusHistory(points=3, max_series=5)
    ref = ReferenceInfo(kind="static", source="s", fingerprint="f", rows=1)
    for i in range(20):
        readings = tuple(Reading(f"f{j}", "ks", "ks", float(i), 0.1, 0.5, False, 10, 10) for j in range(4))
        h.record([WindowReport("m", f"v{i % 3}", WindowInfo(index=i, start=0.0, end=1.0, events=10), readings,
                               (), (), False, False, DetectorState.OK, 0, None, None, ref)])
    kept = [s for v in ("v0", "v1", "v2") for s in h.series("m", v)]
    assert len(kept) == 5 and all(len(pts) <= 3 for _, _, pts in kept)
    with pytest.raises(ValueError, match="positive"):
        StatusHistory(points=0)
