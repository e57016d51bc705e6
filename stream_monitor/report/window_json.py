"""Window reports as JSON objects: the lines of ``stream-monitor backtest`` and the
windows of :meth:`stream_monitor.api.result.Comparison.to_dict`.

``report_to_json`` writes a drift window (``"type": "window"``),
``label_report_to_json`` a label-path window (``"type": "label_window"``); both
mark a window that the end of the input closed with ``"partial": true``.
"""

from __future__ import annotations

from typing import Any

from stream_monitor.decisions.conclusion import WindowReport

__all__ = ["label_report_to_json", "report_to_json"]


def report_to_json(r: WindowReport, *, partial: bool = False) -> dict[str, Any]:
    return {
        "type": "window",
        "partial": partial,
        "model_id": r.model_id,
        "model_version": r.model_version,
        "window": r.window.model_dump(),
        "state": r.state.value,
        "streak": r.streak,
        "model_drift": r.model_drift,
        "insufficient": r.insufficient,
        "severity": r.severity,
        "drifted": list(r.drifted),
        "request_id": r.request_id,
        "reference": r.reference.fingerprint,
        "reference_kind": r.reference.kind,
        "readings": [
            {
                "feature": x.feature,
                "detector": x.detector,
                "statistic": x.statistic,
                "value": x.value,
                "threshold": x.threshold,
                "p_value": x.p_value,
                "drift": x.drift,
                "n": x.n,
                "effect": x.effect,
                "effect_floor": x.effect_floor,
                "against": x.reference,
            }
            for x in r.readings
        ],
        "quality": [
            {
                "feature": q.feature,
                "observed": q.observed,
                "missing_rate": q.missing_rate,
                "mismatched_rate": q.mismatched_rate,
                "out_of_range_rate": q.out_of_range_rate,
                "unseen_rate": q.unseen_rate,
            }
            for q in r.quality
        ],
    }


def label_report_to_json(r: WindowReport, *, partial: bool = False) -> dict[str, Any]:
    return {
        "type": "label_window",
        "partial": partial,
        "source": r.source,
        "model_id": r.model_id,
        "model_version": r.model_version,
        "window": r.window.model_dump(),
        "state": r.state.value,
        "streak": r.streak,
        "breached": r.model_drift,
        "insufficient": r.insufficient,
        "cause": r.cause,
        "request_id": r.request_id,
        "readings": [
            {"kind": x.kind, "metric": x.statistic, "subject": x.feature, "value": x.value, "reference": x.baseline,
             "threshold": x.threshold, "n": x.n, "breach": x.drift, "attribute": x.attribute, "se": x.se}
            for x in r.readings
        ],
    }
