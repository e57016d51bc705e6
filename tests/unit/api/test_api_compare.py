"""compare(): DataFrames, Arrow tables and dicts through the stream's core; the typed result."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import stream_monitor
from stream_monitor.api import Comparison, infer_features
from stream_monitor.api.tables import MAX_CATEGORICAL_INTEGERS, to_columns
from tests.conftest import ROOT

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")


def _frame(n: int, seed: int, shift: float = 0.0, new_country: bool = False) -> object:
    rng = np.random.default_rng(seed)
    countries = ["de", "fr", "us", "uk"] + (["br"] if new_country else [])
    p = [0.4, 0.3, 0.2, 0.1] if not new_country else [0.2, 0.15, 0.1, 0.05, 0.5]
    return pd.DataFrame({
        "amount": rng.lognormal(3.0 + shift, 0.5, n),
        "age": rng.normal(40, 10, n),
        "country": rng.choice(countries, n, p=p),
        "tier": rng.integers(0, 3, n),
        "flag": rng.random(n) < 0.3,
    })


@pytest.fixture(scope="module")
def drifted() -> Comparison:
    return stream_monitor.compare(_frame(4000, 1), _frame(4000, 2, shift=0.5, new_country=True))


def test_drifted_features_are_the_changed_ones(drifted: Comparison) -> None:
    assert set(drifted.drifted_features) - {"__multivariate__"} == {"amount", "country"}
    assert drifted.drift and drifted.state.value == "drift"
    assert len(drifted.requests) == 1 and set(drifted.requests[0].features) >= {"amount", "country"}
    fired = {(r.feature, r.detector) for r in drifted.readings if r.drift}
    assert ("amount", "ks") in fired and ("country", "chi2") in fired
    assert not {f for f, _ in fired} & {"age", "tier", "flag"}


def test_the_same_data_does_not_drift() -> None:
    result = stream_monitor.compare(_frame(4000, 1), _frame(4000, 3))
    assert result.drifted_features == () and not result.drift and result.requests == ()


def test_types_are_inferred_by_the_documented_rule(drifted: Comparison) -> None:
    assert dict(drifted.feature_types) == {"amount": "numeric", "age": "numeric", "country": "categorical",
                                          "tier": "categorical", "flag": "boolean"}
    rows = [{"n": i % (MAX_CATEGORICAL_INTEGERS + 1), "x": 0.5, "code": float(i % 3), "bad name": 1,
             "empty": None, "score": 0.1} for i in range(50)]
    inferred = infer_features(to_columns(rows))
    assert inferred.features == (("n", "numeric"), ("x", "numeric"), ("code", "categorical"))
    assert dict(inferred.skipped) == {"bad name": "not a valid feature name", "empty": "no value in the reference"}


def test_arrow_and_dicts_give_the_dataframes_result(drifted: Comparison) -> None:
    ref, cur = _frame(4000, 1), _frame(4000, 2, shift=0.5, new_country=True)
    via_arrow = stream_monitor.compare(pa.Table.from_pandas(ref), pa.Table.from_pandas(cur))
    via_dicts = stream_monitor.compare(ref.to_dict("records"), cur.to_dict("records"))
    assert via_arrow.to_dict() == drifted.to_dict() == via_dicts.to_dict()


def test_missing_values_are_counted_not_refused() -> None:
    ref, cur = _frame(1000, 1), _frame(1000, 2)
    cur.loc[:99, "age"] = np.nan
    result = stream_monitor.compare(ref, cur)
    age = next(d for d in result.distributions if d.feature == "age")
    assert age.current_missing == 100 and sum(age.current) == 900 and result.rejected == ()
    quality = {q.feature: q for q in result.windows[0].quality}
    assert quality["age"].missing_rate == pytest.approx(0.1)


def test_a_config_mapping_overrides_the_defaults() -> None:
    ref, cur = _frame(3000, 1), _frame(3000, 2, shift=0.5)
    result = stream_monitor.compare(ref, cur, {"model_id": "fraud", "window": {"events": 1000},
                                               "detectors": {"numeric": ["ks"], "categorical": ["chi2"]}})
    assert result.model_id == "fraud" and len(result.windows) == 3
    assert {r.detector for r in result.readings} <= {"ks", "chi2", "missing_rate", "mmd"}


def test_result_serialises(drifted: Comparison, tmp_path: Path) -> None:
    data = json.loads(drifted.to_json())
    assert data["drifted_features"] == list(drifted.drifted_features)
    assert data["windows"][0]["type"] == "window"
    assert data["requests"][0]["request_id"] == drifted.requests[0].request_id
    amount = next(d for d in data["distributions"] if d["feature"] == "amount")
    assert sum(amount["current"]) == 4000 and len(amount["bins"]) == len(amount["reference"])
    page = drifted.to_html(tmp_path / "report.html")
    assert (tmp_path / "report.html").read_text() == page and "<script" not in page


def test_the_core_imports_without_pandas_and_pyarrow() -> None:
    code = ("import sys; sys.modules['pandas'] = None; sys.modules['pyarrow'] = None\n"
            "import stream_monitor\n"
            "r = stream_monitor.compare([{'x': float(i % 97)} for i in range(500)],\n"
            "                           [{'x': float(i % 89)} for i in range(500)])\n"
            "print(type(r).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "Comparison"


def test_the_docstring_example_runs() -> None:
    import doctest
    import importlib

    module = importlib.import_module("stream_monitor.api.compare")  # the attribute is the function
    result = doctest.testmod(module)
    assert result.attempted >= 4 and result.failed == 0


def test_compare_decides_as_the_stream_on_the_same_events() -> None:
    """The rows of a comparison are the events the stream would see: the loop Monitor, fed the
    simulator's own events with the same spec and reference, reports the same window and request."""
    from stream_monitor.api import Monitor
    from stream_monitor.api.compare import comparison_spec
    from stream_monitor.settings import ServiceSettings
    from stream_monitor.tools.backtest import report_to_json
    from stream_monitor.tools.simulate import Scenario, generate, reference_rows
    from stream_monitor.windows.profile import build_profile

    ref = pd.DataFrame(list(reference_rows(3000)))
    events = list(generate(Scenario(kind="abrupt", change_at=0, seed=9), 2000))
    cur = pd.DataFrame([{**e["features"], "score": e["score"], "prediction": e["prediction"],
                         "timestamp": e["timestamp"], "event_id": e["event_id"],
                         "model_version": e["model_version"]} for e in events])
    config = {"model_id": events[0]["model_id"]}
    result = stream_monitor.compare(ref, cur, config)
    spec, _ = comparison_spec(to_columns(ref), len(cur), config)
    profile = build_profile(spec, ref.to_dict("records"), source="reference")
    loop = Monitor(ServiceSettings(models=[spec]), {spec.model_id: profile}, now=2e9)
    got, done = loop.update(events), loop.finish()  # the simulator's events, as a producer sends them
    assert [report_to_json(w) for w in (*got.windows, *done.windows)] == [report_to_json(w) for w in result.windows]
    assert [r.request_id for r in result.requests] == list(got.request_ids + done.request_ids) != []
    assert {"amount", "country", "__prediction__"} <= set(result.drifted_features)
