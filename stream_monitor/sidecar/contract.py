"""``POST /v1/events`` bodies, checked against the worker's own event models.

A body is one event object, a JSON array of events, or a batch envelope
``{"kind": "batch", "events": [...]}``; an event without ``kind`` is a prediction.
The whole body is validated from bytes in one pass (one pydantic ``TypeAdapter``)
and each event re-encoded by its model's serializer, so what the sidecar forwards
is exactly what the worker accepts. A refused body yields :class:`Problem` s naming
the event's index, the field path and the error type, never a value: a path element
that is not a contract field name (a feature name) reads ``*``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError

from stream_monitor.events.models import MAX_BATCH_EVENTS, FeatureEvent, LabelEvent, PredictionEvent
from stream_monitor.sidecar.forward import route

__all__ = ["MAX_PROBLEMS", "Problem", "encode_events", "parse_events", "validate_predictions"]

MAX_PROBLEMS: Final = 20
_MODELS: Final[tuple[type[BaseModel], ...]] = (PredictionEvent, FeatureEvent, LabelEvent)
_KINDS: Final = frozenset({"prediction", "feature", "label"})
_SAFE_LOC: Final = frozenset(name for model in _MODELS for name in model.model_fields) | {"events"}
_MAPPINGS: Final = frozenset({"features", "attributes", "scores"})


def _kind(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("kind", "prediction")
        return kind if kind in _KINDS or kind == "batch" else None
    return None


_Event = Annotated[
    Annotated[PredictionEvent, Tag("prediction")] | Annotated[FeatureEvent, Tag("feature")]
    | Annotated[LabelEvent, Tag("label")],
    Discriminator(_kind),
]


class _Batch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Literal["batch"]
    events: Annotated[list[_Event], Field(max_length=MAX_BATCH_EVENTS)]


_ONE: Final[TypeAdapter[Any]] = TypeAdapter(Annotated[
    Annotated[PredictionEvent, Tag("prediction")] | Annotated[FeatureEvent, Tag("feature")]
    | Annotated[LabelEvent, Tag("label")] | Annotated[_Batch, Tag("batch")],
    Discriminator(_kind),
])
_MANY: Final[TypeAdapter[list[Any]]] = TypeAdapter(Annotated[list[_Event], Field(max_length=MAX_BATCH_EVENTS)])


@dataclass(frozen=True)
class Problem:
    """Why one event (``index``; None for the body itself) was refused."""

    index: int | None
    field: str
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "reason": self.reason}


# Bodies of predictions only (the common case) are validated by these first, as top-level JSON
# arrays: about 3x faster than the tagged union with its Python discriminator, and 2x faster than
# the same array inside an object (7 against 26 and 16 us per event of 25 features, measured side
# by side). A batch envelope in the client's exact form has its array validated directly; anything
# else, or any error, takes the general path, which also describes the errors.
_FAST_LIST: Final[TypeAdapter[list[PredictionEvent]]] = TypeAdapter(
    Annotated[list[PredictionEvent], Field(max_length=MAX_BATCH_EVENTS)])
_FAST_ONE: Final = PredictionEvent.__pydantic_validator__.validate_json
_ENVELOPE_HEAD: Final = b'{"kind":"batch","events":'


def _fast(body: bytes, start: bytes) -> list[BaseModel] | None:
    try:
        if start == b"[":
            return list(_FAST_LIST.validate_json(body))
        if body.startswith(_ENVELOPE_HEAD):
            return list(_FAST_LIST.validate_json(body.rstrip()[len(_ENVELOPE_HEAD):-1]))
        return [_FAST_ONE(body)]
    except ValidationError:
        return None


def parse_events(body: bytes) -> tuple[list[BaseModel], list[Problem], int]:
    """Validated events, or the problems of a refused body, and how many events the body held
    (an estimate when it is not valid JSON: 1)."""
    start = body.lstrip()[:1]
    fast = _fast(body, start)
    if fast is not None:
        return fast, [], 0
    try:
        if start == b"[":
            return list(_MANY.validate_json(body)), [], 0
        doc = _ONE.validate_json(body)
    except ValidationError as exc:
        return [], _problems(exc, start == b"["), _count(exc, body)
    return (list(doc.events) if isinstance(doc, _Batch) else [doc]), [], 0


def _count(exc: ValidationError, body: bytes) -> int:
    """How many events a refused body held (for the ``invalid`` counter): its array length if
    the JSON parses, else 1."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return 1
    if isinstance(doc, list):
        return max(len(doc), 1)
    if isinstance(doc, dict) and doc.get("kind") == "batch" and isinstance(doc.get("events"), list):
        return max(len(doc["events"]), 1)
    return 1


def _problems(exc: ValidationError, is_list: bool) -> list[Problem]:
    out: dict[tuple[int | None, str], str] = {}
    for e in exc.errors(include_input=False, include_url=False, include_context=False):
        loc = list(e["loc"])
        index: int | None = None
        if is_list and loc and isinstance(loc[0], int):
            index = int(loc.pop(0))
        elif loc[:2] == ["batch", "events"] and len(loc) > 2 and isinstance(loc[2], int):
            index, loc = int(loc[2]), loc[3:]
        if loc and loc[0] in _KINDS | {"batch"}:
            loc = loc[1:]  # the discriminator's tag
        field = _field(loc)
        if e["type"].startswith("union_tag_"):
            field = ".".join(x for x in (field if field != "$" else "", "kind") if x)
        key = (index, field)
        if key not in out or (out[key].endswith("_type") and not e["type"].endswith("_type")):
            out[key] = e["type"]
        if len(out) >= MAX_PROBLEMS:
            break
    return [Problem(i, f, r) for (i, f), r in out.items()]


def _field(loc: list[int | str]) -> str:
    """A contract field name, with ``.*`` for a key of a mapping field (a feature name is not shown);
    the union members pydantic adds to the path are not fields and are left out."""
    if not loc:
        return "$"
    head = str(loc[0]) if loc[0] in _SAFE_LOC else "*"
    return head + ".*" if loc[0] in _MAPPINGS and len(loc) > 1 else head


def encode_events(events: Sequence[BaseModel]) -> list[tuple[str, bytes]]:
    """``(route, encoded event)`` per event, as the worker decodes them."""
    return [(route(e.kind, e.model_id), e.__pydantic_serializer__.to_json(e, exclude_unset=True))  # type: ignore[attr-defined]
            for e in events]


_PREDICTION: Final = PredictionEvent.__pydantic_validator__.validate_python


def validate_predictions(events: Sequence[dict[str, Any]]) -> tuple[list[BaseModel], list[Problem]]:
    """Prediction events built by the sidecar itself (from KServe payloads), checked by the contract."""
    out: list[BaseModel] = []
    problems: list[Problem] = []
    for i, event in enumerate(events):
        try:
            out.append(_PREDICTION(event))
        except ValidationError as exc:
            problems.extend(Problem(i, p.field, p.reason) for p in _problems(exc, is_list=False))
            if len(problems) >= MAX_PROBLEMS:
                break
    return out, problems[:MAX_PROBLEMS]
