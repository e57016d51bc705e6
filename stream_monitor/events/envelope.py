"""The batch envelopes' wire format: the row envelope and the columnar envelope.

A row envelope (:class:`~stream_monitor.events.models.BatchEnvelope`) repeats every
key in every event; a columnar envelope writes each key once and its values as
one array, row ``i`` of every column making event ``i``::

    {"kind": "columns", "event_kind": "prediction", "model_id": "m", "model_version": "v1",
     "event_id": ["a", "b"], "timestamp": [1700000000.0, 1700000001.5],
     "features": {"age": [31.0, null], "plan": ["pro", "free"]},
     "prediction": [0.82, 0.11], "score": [0.82, 0.11]}

``null`` in a column means the event does not carry that value (a missing
feature, no score). Columns are validated whole by pydantic-core; a row whose
value is refused is dead-lettered alone with its index, the other rows are
processed. A column whose length differs from ``event_id``'s refuses the whole
envelope. This module holds the model and the one encoder of the wire format
(the sidecar client and the traffic tools use it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final, Literal

import pydantic_core
from pydantic import BaseModel, Field, StrictFloat

from stream_monitor.events.models import (
    _CONFIG,
    MAX_ATTRIBUTES,
    MAX_BATCH_EVENTS,
    MAX_FEATURES,
    EventKind,
    FeatureEvent,
    FeatureValue,
    Identifier,
    LabelEvent,
    Name,
    PredictionEvent,
    Value,
)

__all__ = ["COLUMNS_PREFIX", "ColumnarEnvelope", "encode_columns", "encode_rows"]

COLUMNS_PREFIX: Final = b'{"kind":"columns"'  # how encode_columns starts every envelope
ROWS_PREFIX: Final = b'{"kind":"batch","events":['

Column = Annotated[list[FeatureValue], Field(max_length=MAX_BATCH_EVENTS)]
Numbers = Annotated[list[StrictFloat | None], Field(max_length=MAX_BATCH_EVENTS)]
Values = Annotated[list[Value | None], Field(max_length=MAX_BATCH_EVENTS)]


class ColumnarEnvelope(BaseModel):
    """Events of one kind, model and version as columns; row ``i`` of each column is event ``i``.

    ``timestamp`` holds epoch seconds (numbers only). Columns are checked whole:
    types and finiteness by pydantic-core, lengths and ranges (timestamp within
    0..1e11, score within 0..1, latency >= 0) on numpy arrays. Required per
    kind: prediction (``model_version``, ``timestamp``, ``prediction``),
    feature (``model_version``, ``timestamp``, ``features``), label
    (``timestamp``, ``label``). ``null`` marks a value the event does not carry.
    """

    model_config = _CONFIG

    kind: Literal["columns"]
    event_kind: EventKind | None = Field(None, description="default: what the topic carries")
    model_id: Identifier
    model_version: Identifier | None = None
    event_id: Annotated[list[Identifier | None], Field(min_length=1, max_length=MAX_BATCH_EVENTS)]
    timestamp: Numbers | None = None
    features: Annotated[dict[Name, Column], Field(max_length=MAX_FEATURES)] | None = None
    prediction: Values | None = None
    score: Numbers | None = None
    attributes: Annotated[dict[Name, Column], Field(max_length=MAX_ATTRIBUTES)] | None = None
    latency_ms: Numbers | None = None
    label: Values | None = None


WireEvent = PredictionEvent | FeatureEvent | LabelEvent


def encode_rows(raw_events: Sequence[bytes]) -> bytes:
    """A row envelope of already-encoded events (not encoded again)."""
    return ROWS_PREFIX + b",".join(raw_events) + b"]}"


def _named_columns(rows: Sequence[Any]) -> dict[str, list[Any]] | None:
    """Each name's value per row (``None`` where a row lacks it); ``None`` if no row has any."""
    if all(r is None for r in rows):
        return None
    names: dict[str, None] = {}
    for r in rows:
        if r:
            names.update(dict.fromkeys(r))
    return {name: [r.get(name) if r else None for r in rows] for name in names}


def encode_columns(events: Sequence[WireEvent | Mapping[str, Any]]) -> bytes | None:
    """One columnar envelope of ``events``, or ``None`` when they cannot share one
    (mixed kinds, models or versions, per-class ``scores``): send them as rows then.

    Events are validated models, or the row-format objects of validated events
    (the sidecar client reads back what it encoded); values are written as they
    are, so decoding the envelope gives the same events back (missing features
    as absent keys).
    """
    if not events:
        return None
    rows: list[Mapping[str, Any]] = [e if isinstance(e, Mapping) else e.__dict__ for e in events]
    first = rows[0]
    kind, model_id, version = first.get("kind"), first.get("model_id"), first.get("model_version")
    if kind not in ("prediction", "feature", "label") or any(
            r.get("kind") != kind or r.get("model_id") != model_id or r.get("model_version") != version
            for r in rows):
        return None
    out: dict[str, Any] = {"kind": "columns", "event_kind": kind, "model_id": model_id}
    if version is not None:
        out["model_version"] = version
    out["event_id"] = [r.get("event_id") for r in rows]
    out["timestamp"] = [r.get("timestamp") for r in rows]
    if kind == "label":
        out["label"] = [r.get("label") for r in rows]
        return pydantic_core.to_json(out)
    features = _named_columns([r.get("features") for r in rows])
    if kind == "feature":
        out["features"] = features
        return pydantic_core.to_json(out)
    if any(r.get("scores") is not None for r in rows):
        return None
    if features is not None:
        out["features"] = features
    out["prediction"] = [r.get("prediction") for r in rows]
    for name in ("score", "latency_ms"):
        col = [r.get(name) for r in rows]
        if any(v is not None for v in col):
            out[name] = col
    attributes = _named_columns([r.get("attributes") for r in rows])
    if attributes is not None:
        out["attributes"] = attributes
    return pydantic_core.to_json(out)
