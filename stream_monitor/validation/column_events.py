"""Events from checked columns: one ordinary event per row, without validating it again.

The columns were validated whole (types by pydantic-core, lengths and ranges on
numpy arrays); building each row's event from them is what ``model_construct``
does, without its per-field default lookups. A row's ``null`` values are absent
keys, so the event equals the row-format event of the same values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from pydantic import BaseModel

from stream_monitor.events.envelope import ColumnarEnvelope
from stream_monitor.events.models import EventKind, FeatureEvent, LabelEvent, PredictionEvent

__all__ = ["EventBatch", "build_events"]

Event = PredictionEvent | FeatureEvent | LabelEvent


class EventBatch(list[Any]):
    """The events of a columnar envelope whose every row was accepted (one kind, model and
    version), with the envelope's feature columns when every event carries features
    (``features``, else ``None``) and the newest event time (``newest``).

    The windows read those columns as they are instead of picking each value back out of
    its event: the same values, the same objects, in the same order.
    """

    __slots__ = ("features", "newest")

    def __init__(self, events: Iterable[Any], features: Mapping[str, list[Any]] | None, newest: float) -> None:
        super().__init__(events)
        self.features = features
        self.newest = newest


def _named_rows(cols: Mapping[str, list[Any]] | None, n: int, empty: bool = False) -> list[Any] | None:
    """Per row, the named values it carries (``null`` entries left out), from the columns.

    A row with nothing but ``null`` is ``None`` (the event carries no such mapping, as
    when a client logs a prediction without features), or ``{}`` with ``empty``."""
    if cols is None:
        return None
    names = list(cols)
    # every column has n values (checked before): zip need not check it again per row
    rows: list[Any] = [dict(zip(names, values, strict=False)) for values in zip(*cols.values(), strict=False)] \
        if names else [{} for _ in range(n)]
    holes = False
    for name, col in cols.items():
        if None in col:
            holes = True
            for i, v in enumerate(col):
                if v is None:
                    del rows[i][name]
    if (holes or not names) and not empty:
        rows = [r or None for r in rows]
    return rows


_SET: Final = object.__setattr__


def _make(cls: type[BaseModel], values: dict[str, Any], fields_set: set[str]) -> Any:
    """A validated model from checked values (what ``model_construct`` does, without its
    per-field default lookups)."""
    obj = cls.__new__(cls)
    _SET(obj, "__dict__", values)
    _SET(obj, "__pydantic_fields_set__", fields_set)
    _SET(obj, "__pydantic_extra__", None)
    _SET(obj, "__pydantic_private__", None)
    return obj


def build_events(env: ColumnarEnvelope, kind: EventKind, bad: Mapping[int, str]) -> list[Event | None]:
    """One event per row (``None`` for a row in ``bad``), sharing the envelope's model and version."""
    n = len(env.event_id)
    ts = env.timestamp or []
    model_id, version = env.model_id, env.model_version
    features = _named_rows(env.features, n, empty=kind == "feature")
    if kind == "label":
        labels = env.label or []
        base = {"kind", "event_id", "model_id", "timestamp", "label"} | ({"model_version"} if version else set())
        return [None if i in bad else _make(LabelEvent, {
            "kind": "label", "event_id": env.event_id[i], "model_id": model_id, "model_version": version,
            "timestamp": ts[i], "label": labels[i]}, set(base)) for i in range(n)]
    if kind == "feature":
        assert features is not None
        base = {"kind", "event_id", "model_id", "model_version", "timestamp", "features"}
        return [None if i in bad else _make(FeatureEvent, {
            "kind": "feature", "event_id": env.event_id[i], "model_id": model_id, "model_version": version,
            "timestamp": ts[i], "features": features[i]}, set(base)) for i in range(n)]
    return _predictions(env, features, bad)


def _predictions(
    env: ColumnarEnvelope, features: list[dict[str, Any]] | None, bad: Mapping[int, str]
) -> list[Event | None]:
    n = len(env.event_id)
    none: list[Any] = [None] * n
    attributes = _named_rows(env.attributes, n) or none
    base = frozenset({"kind", "event_id", "model_id", "model_version", "timestamp", "prediction"}
                     | ({"features"} if features is not None else set()))
    # One fields-set per combination of optional values, shared by the events that have it:
    # a frozen event never changes it, and a copy copies it.
    shared: dict[tuple[bool, bool, bool], set[str]] = {}
    model_id, version, new = env.model_id, env.model_version, PredictionEvent.__new__
    out: list[Event | None] = []
    for i, (event_id, ts, feats, pred, score, lat, attrs) in enumerate(zip(
            env.event_id, env.timestamp or none, features or none, env.prediction or none, env.score or none,
            env.latency_ms or none, attributes, strict=True)):
        if i in bad:
            out.append(None)
            continue
        key = (score is not None, lat is not None, attrs is not None)
        fields = shared.get(key)
        if fields is None:
            fields = shared[key] = set(base) | {name for name, on in zip(
                ("score", "latency_ms", "attributes"), key, strict=True) if on}
        obj = new(PredictionEvent)
        _SET(obj, "__dict__", {
            "kind": "prediction", "event_id": event_id, "model_id": model_id, "model_version": version,
            "timestamp": ts, "features": feats, "prediction": pred, "score": score, "scores": None,
            "attributes": attrs, "latency_ms": lat})
        _SET(obj, "__pydantic_fields_set__", fields)
        _SET(obj, "__pydantic_extra__", None)
        _SET(obj, "__pydantic_private__", None)
        out.append(obj)
    return out
