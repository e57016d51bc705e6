"""Backtest: the worker's exact core over JSON Lines files, without Kafka.

Each input line is one record value (an event or a batch envelope), as the
worker would consume it. Labels come either

* in their own file (``labels``), one label event per line, as on the labels
  topic: the two files are merged by event time (each file is read in its own
  order, as a partition would deliver it; at equal times the prediction comes
  first); or
* in the prediction file itself, as a topic dump with kinds: every line whose
  event carries ``"kind": "label"`` (or ``"feature"``) is read as that kind.

Output, one JSON line each, in processing order: every closed drift window
(``"type": "window"``), every closed label-path window (``"type":
"label_window"``, ``"source"`` ``pairs`` for performance, concept drift and the
TPR/FPR gaps, ``predictions`` for representation, parity, impact and the
label-free estimate), every retrain request that would be published and every
dead letter. At the end of the input the open windows are closed
(:meth:`~stream_monitor.pipeline.monitor.Monitor.finish`) and written with
``"partial": true``. Same input, same output, bit for bit: no clock is read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

from stream_monitor.events.models import EventKind
from stream_monitor.pipeline.monitor import Monitor, Outcome, SourceRecord
from stream_monitor.report.window_json import label_report_to_json, report_to_json
from stream_monitor.settings import ServiceSettings
from stream_monitor.windows.profile import ReferenceProfile

__all__ = ["backtest_records", "label_report_to_json", "report_to_json", "run_backtest", "write_outcome"]


def _time_of(line: bytes) -> float | None:
    """The event time of a record value (a batch envelope: its first event's), if readable."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if isinstance(value, dict) and isinstance(value.get("events"), list) and value["events"]:
        value = value["events"][0]
    ts = value.get("timestamp") if isinstance(value, dict) else None
    return float(ts) if isinstance(ts, int | float) and not isinstance(ts, bool) else None


def _lines(path: Path, kind: EventKind) -> Iterator[tuple[float, SourceRecord]]:
    """The records of one file with their merge key (an unreadable line keeps the key
    of the line before it, so it stays where it was)."""
    key = float("-inf")
    with path.open("rb") as fh:
        for offset, line in enumerate(fh):
            value = line.rstrip(b"\r\n")
            ts = _time_of(value)
            key = key if ts is None else ts
            yield key, SourceRecord(kind, value, path.name, 0, offset)


def backtest_records(path: Path, labels: Path | None = None) -> Iterator[SourceRecord]:
    """The records a backtest feeds the monitor, in order: ``path`` alone, or merged
    with ``labels`` by event time (predictions first at equal times)."""
    preds = _lines(path, "prediction")
    if labels is None:
        for _, rec in preds:
            yield rec
        return
    labs = _lines(labels, "label")
    p, q = next(preds, None), next(labs, None)
    while p is not None or q is not None:
        if q is None or (p is not None and p[0] <= q[0]):
            assert p is not None
            yield p[1]
            p = next(preds, None)
        else:
            yield q[1]
            q = next(labs, None)


def write_outcome(outcome: Outcome, out: IO[str]) -> dict[str, int]:
    """Write one outcome's windows, label windows, requests and dead letters; return their counts."""
    partial = outcome.partial
    for report in outcome.reports:
        out.write(json.dumps(report_to_json(report, partial=partial), sort_keys=True) + "\n")
    label_windows = 0
    for batch in outcome.outcomes.values():
        for lr in batch.reports:
            out.write(json.dumps(label_report_to_json(lr, partial=partial), sort_keys=True) + "\n")
            label_windows += 1
    for req in outcome.requests:
        out.write(json.dumps({"type": "retrain_request", **req.model_dump(mode="json")}, sort_keys=True) + "\n")
    for dl in outcome.dead_letters:
        out.write(
            json.dumps(
                {"type": "dead_letter", "file": dl.record.topic, "line": dl.record.offset + 1, "index": dl.index,
                 "reason": dl.reason, "message": dl.message},
                sort_keys=True,
            )
            + "\n"
        )
    return {"windows": len(outcome.reports), "label_windows": label_windows, "requests": len(outcome.requests),
            "dead_letters": len(outcome.dead_letters), "partial_windows": (len(outcome.reports) + label_windows)
            if partial else 0}


def run_backtest(
    settings: ServiceSettings,
    references: Mapping[str, ReferenceProfile | None],
    path: Path,
    out: IO[str],
    *,
    chunk: int = 1000,
    version_references: Mapping[str, Mapping[str, ReferenceProfile]] | None = None,
    labels: Path | None = None,
) -> dict[str, int]:
    """Process ``path`` (and ``labels``) in chunks of ``chunk`` records; write results to ``out``."""
    monitor = Monitor(settings.models, references, max_message_bytes=settings.limits.max_message_bytes,
                      version_references=version_references,
                      max_event_skew_seconds=settings.limits.max_event_skew_seconds,
                      version_idle_seconds=settings.limits.version_idle_seconds)
    # Processing time for the event-time bound: the run's start (a tool, not the core).
    started = time.time()
    counts = {"lines": 0, "windows": 0, "label_windows": 0, "partial_windows": 0, "requests": 0, "dead_letters": 0}
    buffer: list[SourceRecord] = []

    def emit(outcome: Outcome) -> None:
        for k, v in write_outcome(outcome, out).items():
            counts[k] += v
        monitor.mark_published(r.request_id for r in outcome.requests)

    for rec in backtest_records(path, labels):
        counts["lines"] += 1
        buffer.append(rec)
        if len(buffer) >= chunk:
            emit(monitor.observe(buffer, now=started))
            buffer.clear()
    if buffer:
        emit(monitor.observe(buffer, now=started))
    emit(monitor.finish())
    return counts
