"""The rows of a typed columnar envelope: lengths, required columns and ranges checked, then events.

:func:`rows` checks a :class:`~stream_monitor.events.envelope.ColumnarEnvelope`
that pydantic-core has validated column by column, refuses each row out of range
alone (with a row-format payload for the dead-letter topic, and a reason that
holds no value), and builds one event per good row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

import numpy as np

from stream_monitor.events.envelope import ColumnarEnvelope
from stream_monitor.events.models import _MAX_EPOCH_SECONDS, EventKind, FeatureEvent, LabelEvent, PredictionEvent
from stream_monitor.validation.column_events import EventBatch, build_events

__all__ = ["NAMED_COLUMNS", "REQUIRED", "ROW_COLUMNS", "RowRefusal", "rows"]

Event = PredictionEvent | FeatureEvent | LabelEvent
ROW_COLUMNS: Final = ("event_id", "timestamp", "prediction", "score", "latency_ms", "label")
NAMED_COLUMNS: Final = ("features", "attributes")
REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "prediction": ("model_version", "timestamp", "prediction"),
    "feature": ("model_version", "timestamp", "features"),
    "label": ("timestamp", "label"),
}


@dataclass(frozen=True, slots=True)
class RowRefusal:
    """Why the whole envelope, or one row of it (``index``), was refused."""

    reason: Literal["schema_violation", "non_finite_value", "batch_too_large", "empty_payload"]
    message: str
    index: int | None = None
    payload: bytes | None = None


def _floats(col: Sequence[float | None]) -> np.ndarray:
    return np.array(col, dtype=float)  # None reads as NaN


def rows(
    env: ColumnarEnvelope, topic_kind: EventKind, refused: dict[int, RowRefusal], kept: Sequence[int] | None = None,
) -> list[Event | RowRefusal]:
    """Check lengths, required columns and ranges, then build one event per good row."""
    kind: EventKind = env.event_kind or topic_kind
    n = len(env.event_id)
    missing = [name for name in REQUIRED[kind] if getattr(env, name) is None]
    if missing:
        return [RowRefusal("schema_violation", "columnar envelope lacks " + ", ".join(missing))]
    for name in ROW_COLUMNS:
        col = getattr(env, name)
        if col is not None and len(col) != n:
            return [RowRefusal("schema_violation", f"column {name} has another length than event_id")]
    for name in NAMED_COLUMNS:
        cols = getattr(env, name)
        if cols is not None and any(len(v) != n for v in cols.values()):
            return [RowRefusal("schema_violation", f"a column of {name}.* has another length than event_id")]
    bad = _range_check(env, kind)
    events = build_events(env, kind, bad)
    if not bad and not refused:  # every row accepted: the events with the columns they came from
        whole = kind != "label" and env.features is not None and all(
            getattr(e, "features", None) is not None for e in events)
        times = cast("list[float]", env.timestamp or [0.0])  # no row refused: none is missing
        return EventBatch(events, env.features if whole else None, max(times))
    index = list(kept) if kept is not None else list(range(n))
    placed: dict[int, Event | RowRefusal] = dict(refused)
    for row, event in enumerate(events):
        original = index[row]
        placed[original] = event if event is not None else RowRefusal(
            "schema_violation", bad[row], original, _event_payload(env, kind, row))
    return [placed[i] for i in sorted(placed)]


def _range_check(env: ColumnarEnvelope, kind: EventKind) -> dict[int, str]:
    """Rows whose values are out of range or missing where required, with a reason (no values)."""
    bad: dict[int, str] = {}
    ts = _floats(env.timestamp or [])
    for i in np.flatnonzero(~((ts >= 0.0) & (ts <= _MAX_EPOCH_SECONDS))).tolist():
        bad.setdefault(i, "timestamp: missing or out of range")
    ids = env.event_id
    if None in ids:
        for i, v in enumerate(ids):
            if v is None:
                bad.setdefault(i, "event_id: missing")
    value_col = env.label if kind == "label" else env.prediction if kind == "prediction" else None
    if value_col is not None and None in value_col:
        for i, value in enumerate(value_col):
            if value is None:
                bad.setdefault(i, f"{'label' if kind == 'label' else 'prediction'}: missing")
    if kind == "prediction":
        if env.score is not None:
            s = _floats(env.score)
            for i in np.flatnonzero((s < 0.0) | (s > 1.0)).tolist():
                bad.setdefault(i, "score: out of range")
        if env.latency_ms is not None:
            lat = _floats(env.latency_ms)
            for i in np.flatnonzero(lat < 0.0).tolist():
                bad.setdefault(i, "latency_ms: out of range")
    return bad


def _event_payload(env: ColumnarEnvelope, kind: EventKind, i: int) -> bytes:
    """Row ``i`` of a typed envelope as a row-format event, for the dead-letter topic."""
    row: dict[str, Any] = {"kind": kind, "model_id": env.model_id, "model_version": env.model_version}
    for name in ROW_COLUMNS:
        col = getattr(env, name)
        if col is not None:
            row[name] = col[i]
    for name in NAMED_COLUMNS:
        cols = getattr(env, name)
        if cols is not None:
            row[name] = {k: v[i] for k, v in cols.items()}
    return json.dumps(row, separators=(",", ":"), default=str).encode()
