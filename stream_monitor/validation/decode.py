"""Decode raw Kafka record values into events, or into typed rejections.

:func:`decode` tries the fastest paths first (an all-valid envelope or a single
valid event of the topic's own kind, then one pass of the tagged union) and
redoes a failure the slow way, which classifies every error, per event for a
batch envelope. The adapters are built once in
:mod:`stream_monitor.validation.adapters`. Nothing here raises on bad input:
every problem becomes a :class:`~stream_monitor.validation.rejection.Rejection`
with a reason code and a message that holds no input value.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, cast

from pydantic import TypeAdapter, ValidationError

from stream_monitor.events.envelope import COLUMNS_PREFIX
from stream_monitor.events.models import BatchEnvelope, Event, EventKind, FeatureEvent, PredictionEvent
from stream_monitor.validation.adapters import ADAPTERS, ENVELOPE_PREFIX, HOMOGENEOUS, OBJECT, OWN_KIND
from stream_monitor.validation.column_events import EventBatch
from stream_monitor.validation.column_rows import RowRefusal
from stream_monitor.validation.columnar import decode_columns
from stream_monitor.validation.duplicates import is_repeated, no_duplicates, parse_marking_repeats, repeated_at
from stream_monitor.validation.rejection import Rejection, classify, safe_loc

__all__ = ["decode"]


def decode(raw: bytes | None, kind: EventKind, *, max_bytes: int) -> list[Event | Rejection]:
    """Decode one record value.

    Parameters
    ----------
    raw
        The record value as received; ``None`` for a tombstone.
    kind
        What the source topic carries; an event without ``kind`` takes this one.
    max_bytes
        Records longer than this are rejected unread as ``too_large``.

    Returns
    -------
    list
        One entry per event: the validated event or its :class:`Rejection`.
        A batch envelope yields one entry per inner event, in order. An object
        with a duplicate key (at any depth) is refused as ``duplicate_key``:
        pydantic's parser keeps the last value, the contract allows one.
    """
    out, envelope = _decode(raw, kind, max_bytes)
    if not raw or envelope is None:  # nothing to check, or a columnar envelope (checked already)
        return out
    if len(out) == 1 and not envelope:  # the common case, kept short: one event or one rejection
        first = out[0]
        if isinstance(first, Rejection):
            return out
        keys = _keys(first)
    else:
        keys = 2 if envelope else 0  # "kind" and "events"
        for item in out:
            if isinstance(item, Rejection):  # no proof possible: the exact check, if anything was accepted
                if all(isinstance(x, Rejection) for x in out):
                    return out
                return _refuse_duplicates(raw, out, envelope)
            keys += _keys(item)
    if no_duplicates(raw, keys):
        return out
    return _refuse_duplicates(raw, out, envelope)


def _keys(event: Event) -> int:
    """How many keys the validated event holds (top level, features, scores, attributes)."""
    n = len(event.__pydantic_fields_set__)  # model_fields_set, without the property call
    if isinstance(event, PredictionEvent):
        f, s, a = event.features, event.scores, event.attributes
        return n + (len(f) if f else 0) + (len(s) if s else 0) + (len(a) if a else 0)
    if isinstance(event, FeatureEvent):
        return n + len(event.features)
    return n


def _refuse_duplicates(raw: bytes, items: list[Event | Rejection], envelope: bool) -> list[Event | Rejection]:
    """The exact check (the slow path): parse again noting repeated keys, and refuse
    the record, or in a batch envelope each event, that has one."""
    parsed = parse_marking_repeats(raw)
    if parsed is None:  # pydantic read it; nothing more to learn
        return items
    if envelope and isinstance(parsed, dict) and not is_repeated(parsed):
        inner = parsed.get("events")
        if isinstance(inner, list) and len(inner) == len(items):
            out = list(items)
            for i, event in enumerate(inner):
                loc = repeated_at(event)
                if loc is not None:
                    payload = json.dumps(event, separators=(",", ":")).encode()
                    out[i] = Rejection("duplicate_key", f"duplicate key in {safe_loc(loc)}", i, payload)
            return out
    loc = repeated_at(parsed)
    if loc is None:
        return items
    return [Rejection("duplicate_key", f"duplicate key in {safe_loc(loc)}")]


Decoded = tuple[list[Event | Rejection], bool | None]


def _decode(raw: bytes | None, kind: EventKind, max_bytes: int) -> Decoded:
    """What :func:`decode` returns before the duplicate-key check, and whether
    ``raw`` was a batch envelope (``None``: a columnar envelope, checked already)."""
    if not raw:
        return [Rejection("empty_payload", "record has no value")], False
    if len(raw) > max_bytes:
        return [Rejection("too_large", f"record of {len(raw)} bytes exceeds {max_bytes}")], False
    if raw.startswith(COLUMNS_PREFIX):
        return _columns(raw, kind), None
    return _own_kind(raw, kind) or _one_pass(raw, kind) or _slow(raw, kind)


def _own_kind(raw: bytes, kind: EventKind) -> Decoded | None:
    """The fastest paths: an all-valid envelope, or a single valid event, of the topic's own kind."""
    if raw.startswith(ENVELOPE_PREFIX):
        try:
            envelope = HOMOGENEOUS[kind].validate_json(raw)
        except ValidationError:
            return None  # mixed kinds or invalid events: the paths below sort it out
        return (list(envelope.events), True) if envelope.events else None
    try:
        return [OWN_KIND[kind].validate_json(raw)], False
    except ValidationError:
        return None  # another kind, a batch written another way, or invalid: the paths below sort it out


def _one_pass(raw: bytes, kind: EventKind) -> Decoded | None:
    """Fast path: one pass over the bytes, valid single events and all-valid batches."""
    try:
        parsed = ADAPTERS[kind][0].validate_json(raw)
    except ValidationError:
        return None  # redo it the slow way, which classifies the errors (per event for a batch)
    if parsed.kind == "columns":
        return _columns(raw, kind), None
    if parsed.kind != "batch":
        return [parsed], False
    return (list(parsed.events), True) if parsed.events else None


def _slow(raw: bytes, kind: EventKind) -> Decoded:
    """The path that classifies every error, per event for a batch."""
    _, top, many, one = ADAPTERS[kind]
    try:
        parsed = top.validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "too_long" and tuple(e["loc"][:2]) == ("batch", "events")
               for e in exc.errors(include_input=False)):
            return [Rejection("batch_too_large", "batch envelope holds too many events")], True
        return [classify(exc, tagged=True)], False
    if parsed.kind == "columns":
        return _columns(raw, kind), None
    if not isinstance(parsed, BatchEnvelope):
        return [parsed], False
    if not parsed.events:  # nothing to process is still something to account for
        return [Rejection("empty_payload", "batch envelope holds no events")], True
    return _decode_inner(parsed.events, many, one), True


def _decode_inner(items: list[Any], many: TypeAdapter[Any], one: TypeAdapter[Any]) -> list[Event | Rejection]:
    try:
        return list(many.validate_python(items))  # fast path: the whole batch is valid
    except ValidationError:
        pass
    out: list[Event | Rejection] = []
    for i, item in enumerate(items):
        try:
            out.append(one.validate_python(item))
        except ValidationError as exc:
            rejection = classify(exc, index=i, tagged=True)
            payload = json.dumps(item, separators=(",", ":")).encode()
            out.append(dataclasses.replace(rejection, payload=payload))
    return out


def _columns(raw: bytes, kind: EventKind) -> list[Event | Rejection]:
    """A columnar envelope: its events, each bad row refused alone (or the whole envelope)."""
    def whole(exc: ValidationError) -> RowRefusal:
        if any(e["type"] == "too_long" and e["loc"][:1] == ("event_id",)
               for e in exc.errors(include_input=False)):
            return RowRefusal("batch_too_large", "batch envelope holds too many events")
        r = classify(exc)
        return RowRefusal(r.reason, r.message)  # type: ignore[arg-type]

    try:
        parsed = raw if raw.startswith(COLUMNS_PREFIX) else OBJECT.validate_json(raw)
    except ValidationError as exc:
        return [classify(exc)]
    items, keys = decode_columns(parsed, kind, whole)
    if isinstance(items, EventBatch):  # every row accepted: the batch as it is
        out = cast("list[Event | Rejection]", items)
    else:
        out = [Rejection(i.reason, i.message, i.index, i.payload) if isinstance(i, RowRefusal) else i
               for i in items]
    if keys and not no_duplicates(raw, keys) and repeated_at(parse_marking_repeats(raw)) is not None:
        return [Rejection("duplicate_key", "duplicate key in columnar envelope")]
    return out
