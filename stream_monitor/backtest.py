"""Backtest: the worker's exact core over a JSON Lines file, without Kafka.

Each input line is one record value (an event or a batch envelope). Output is
one JSON line per closed window, per retrain request that would be published
and per dead letter, in processing order. Same input, same output, bit for bit:
no clock is read (``now`` is the event time of the last line seen).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from stream_monitor.decisions.policy import WindowReport
from stream_monitor.monitor import Monitor, SourceRecord
from stream_monitor.settings import ServiceSettings
from stream_monitor.windows.profile import ReferenceProfile

__all__ = ["report_to_json", "run_backtest"]


def report_to_json(r: WindowReport) -> dict[str, Any]:
    return {
        "type": "window",
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


def run_backtest(
    settings: ServiceSettings,
    references: Mapping[str, ReferenceProfile | None],
    path: Path,
    out: IO[str],
    *,
    chunk: int = 1000,
    version_references: Mapping[str, Mapping[str, ReferenceProfile]] | None = None,
) -> dict[str, int]:
    """Process ``path`` in chunks of ``chunk`` lines; write results to ``out``."""
    monitor = Monitor(settings.models, references, max_message_bytes=settings.limits.max_message_bytes,
                      version_references=version_references,
                      max_event_skew_seconds=settings.limits.max_event_skew_seconds,
                      version_idle_seconds=settings.limits.version_idle_seconds)
    # Processing time for the event-time bound: the run's start (a tool, not the core).
    started = time.time()
    counts = {"lines": 0, "windows": 0, "requests": 0, "dead_letters": 0}
    buffer: list[SourceRecord] = []

    def flush() -> None:
        outcome = monitor.observe(buffer, now=started)
        for report in outcome.reports:
            out.write(json.dumps(report_to_json(report), sort_keys=True) + "\n")
        for req in outcome.requests:
            out.write(json.dumps({"type": "retrain_request", **req.model_dump(mode="json")}, sort_keys=True) + "\n")
        for dl in outcome.dead_letters:
            out.write(
                json.dumps(
                    {"type": "dead_letter", "line": dl.record.offset + 1, "index": dl.index,
                     "reason": dl.reason, "message": dl.message},
                    sort_keys=True,
                )
                + "\n"
            )
        counts["windows"] += len(outcome.reports)
        counts["requests"] += len(outcome.requests)
        counts["dead_letters"] += len(outcome.dead_letters)
        monitor.mark_published(r.request_id for r in outcome.requests)
        buffer.clear()

    with path.open("rb") as fh:
        for offset, line in enumerate(fh):
            counts["lines"] += 1
            value = line.rstrip(b"\r\n")
            buffer.append(SourceRecord("prediction", value, str(path.name), 0, offset))
            if len(buffer) >= chunk:
                flush()
    if buffer:
        flush()
    return counts
