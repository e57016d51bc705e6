"""Which input column or tensor is which feature, and which output is the prediction or score.

A mapping file (YAML) names, per InferenceService, the model id and version the
events carry and where each value sits in KServe's payloads::

    kserve:
      - inference_service: sklearn-iris    # the ce-inferenceservicename attribute
        namespace: default                 # optional: only events from this namespace
        model_id: iris
        model_version: v1
        features:
          sepal_length: {column: 0}        # V1 row [6.8, 2.8, 4.8, 1.4], or v2's first input tensor
          petal_width: {tensor: input-0, column: 3}
          country: {key: country}          # V1 rows that are objects: the member name
        prediction: {}                     # default: the first output, whole row (a scalar)
        score: {tensor: probabilities, column: 1}   # optional: a probability in [0, 1]

A :class:`Column` picks a value from one row of a request or response: ``tensor`` (v2:
the tensor's name; default the payload's first tensor), then ``key`` (a member of an
object row) or ``column`` (a position in a list row); neither means the row is the
value. :func:`rows_to_events` turns a paired request and response of N rows into N
prediction events (plain dicts for the event contract), with event ids ``<ce-id>:<row>``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from stream_monitor.sidecar.cloudevents import CloudEvent, CloudEventError
from stream_monitor.sidecar.tensors import Table

__all__ = ["Column", "KServeModel", "SidecarMapping", "load_mapping", "rows_to_events"]

Name = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=256)]
_STRICT: Final = ConfigDict(frozen=True, extra="forbid")


class Column(BaseModel):
    """Where one value sits in a row of a request or response."""

    model_config = _STRICT

    tensor: Name | None = None
    key: Name | None = None
    column: Annotated[int, Field(ge=0, le=1_000_000)] | None = None

    @model_validator(mode="after")
    def _one_selector(self) -> Column:
        if self.key is not None and self.column is not None:
            raise ValueError("give key (object rows) or column (list rows), not both")
        return self

    def pick(self, table: Table, row: int, where: str) -> Any:
        """The value at this place in ``row`` of ``table``."""
        name = self.tensor if self.tensor is not None and table.protocol == "v2" else table.first
        rows = table.tensors.get(name)
        if rows is None:
            raise CloudEventError("unmapped", where, "the mapped tensor is not in the payload")
        value = rows[row]
        if self.key is not None:
            if not isinstance(value, dict) or self.key not in value:
                raise CloudEventError("unmapped", where, "row is not an object with the mapped key")
            value = value[self.key]
        elif self.column is not None:
            if not isinstance(value, list) or self.column >= len(value):
                raise CloudEventError("unmapped", where, "row has no such column")
            value = value[self.column]
        return _scalar(value, where)


def _scalar(value: Any, where: str) -> float | bool | str | None:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value)
    raise CloudEventError("unmapped", where, "the mapped value is not a scalar")


class KServeModel(BaseModel):
    """The mapping of one InferenceService."""

    model_config = _STRICT

    inference_service: Identifier
    namespace: Identifier | None = None
    model_id: Identifier
    model_version: Identifier
    features: Annotated[dict[Name, Column], Field(max_length=2000)] = Field(default_factory=dict)
    prediction: Column = Field(default_factory=Column)
    score: Column | None = None


class SidecarMapping(BaseModel):
    """The sidecar's mapping file."""

    model_config = _STRICT

    kserve: Annotated[list[KServeModel], Field(max_length=1000)] = Field(default_factory=list)

    def find(self, event: CloudEvent) -> KServeModel | None:
        """The mapping for an event's InferenceService (a namespace-specific one first)."""
        fallback = None
        for model in self.kserve:
            if model.inference_service != event.inference_service:
                continue
            if model.namespace == event.namespace:
                return model
            if model.namespace is None:
                fallback = fallback or model
        return fallback


def load_mapping(path: str | Path) -> SidecarMapping:
    """Read and validate a mapping file (``yaml.safe_load``); raises ``ValueError`` on a bad one."""
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return SidecarMapping.model_validate(doc)


def _seconds(value: str | None) -> float | None:
    if value is None or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def rows_to_events(model: KServeModel, request: CloudEvent, response: CloudEvent, inputs: Table,
                   outputs: Table, received: float) -> list[dict[str, Any]]:
    """One prediction event per row of a paired request and response.

    The event time is the request's ``time`` attribute (when the inference service
    received it), else ``received`` (epoch seconds); ``latency_ms`` is the time from
    request to response when both carry a ``time``.
    """
    if inputs.rows != outputs.rows:
        raise CloudEventError("row_mismatch", "rows", "request and response have different row counts")
    started, ended = _seconds(request.time), _seconds(response.time)
    base: dict[str, Any] = {"kind": "prediction", "model_id": model.model_id, "model_version": model.model_version,
                            "timestamp": started if started is not None else received}
    if started is not None and ended is not None and ended >= started:
        base["latency_ms"] = (ended - started) * 1000.0
    events = []
    for i in range(inputs.rows):
        event = {**base, "event_id": f"{request.id}:{i}",
                 "prediction": model.prediction.pick(outputs, i, "prediction")}
        if model.features:
            event["features"] = {name: col.pick(inputs, i, f"features.{name}")
                                 for name, col in model.features.items()}
        if model.score is not None:
            event["score"] = model.score.pick(outputs, i, "score")
        events.append(event)
    return events
