"""Decode a columnar envelope into events, each bad row refused alone with its index.

pydantic-core validates every column as a typed list straight from the bytes
(types, identifiers, finiteness); numpy then checks lengths and ranges on whole
columns. Rows that pass become ordinary events, built without validating them a
second time, so everything downstream (windows, detectors, dead letters) sees
what a row envelope of the same events gives. When a column refuses some rows,
the envelope is read again with untyped columns, the refused rows are dropped
from every column and the rest is validated once more; a problem that no row
index explains (a missing column, lengths that differ) refuses the envelope.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from stream_monitor.events.envelope import ColumnarEnvelope
from stream_monitor.events.models import _CONFIG, MAX_BATCH_EVENTS, EventKind
from stream_monitor.validation.column_rows import NAMED_COLUMNS, REQUIRED, ROW_COLUMNS, Event, RowRefusal, rows

__all__ = ["LooseColumnarEnvelope", "decode_columns"]

_VALIDATE: Final = ColumnarEnvelope.__pydantic_validator__


class LooseColumnarEnvelope(BaseModel):
    """Just enough of a columnar envelope to tell it from other records in the decoder's
    tagged union; :func:`decode_columns` reads it again."""

    model_config = _CONFIG
    kind: Literal["columns"]
    event_id: Annotated[list[Any], Field(min_length=1, max_length=MAX_BATCH_EVENTS)]


_LOOSE: Final = TypeAdapter(dict[str, Any])


def decode_columns(
    raw: bytes | Mapping[str, Any], kind: EventKind, classify: Callable[[ValidationError], RowRefusal]
) -> tuple[list[Event | RowRefusal], int]:
    """Events of one columnar envelope (JSON bytes, or an already parsed object), in row order,
    and how many object keys the envelope holds (for the duplicate-key proof; 0 if refused whole).

    ``classify`` turns an error that refuses the whole envelope into its refusal.
    """
    try:
        env = _VALIDATE.validate_json(raw) if isinstance(raw, bytes) else _VALIDATE.validate_python(raw)
    except ValidationError as exc:
        return _with_badrows(raw, kind, exc, classify)
    return rows(env, kind, {}), _keys(env)


def _keys(env: ColumnarEnvelope) -> int:
    return len(env.__pydantic_fields_set__) + len(env.features or ()) + len(env.attributes or ())


def _row_of(loc: tuple[int | str, ...]) -> int | None:
    """The row index an error location points at, if it is inside a column."""
    if len(loc) >= 2 and loc[0] in ROW_COLUMNS and isinstance(loc[1], int):
        return loc[1]
    if len(loc) >= 3 and loc[0] in NAMED_COLUMNS and isinstance(loc[2], int):
        return loc[2]
    return None


def _with_badrows(
    raw: bytes | Mapping[str, Any], kind: EventKind, exc: ValidationError,
    classify: Callable[[ValidationError], RowRefusal],
) -> tuple[list[Event | RowRefusal], int]:
    errors = exc.errors(include_input=False, include_url=False, include_context=False)
    bad: dict[int, tuple[str, str]] = {}
    for e in errors:
        row = _row_of(e["loc"])
        if row is None or e["type"] == "too_long":
            return [classify(exc)], 0
        column = str(e["loc"][0]) + (".*" if e["loc"][0] in NAMED_COLUMNS else "")  # never a feature name
        if e["type"] == "finite_number":
            bad[row] = ("non_finite_value", f"{column}: non-finite number")
        elif row not in bad or (bad[row][1].endswith("_type") and not e["type"].endswith("_type")):
            bad[row] = ("schema_violation", f"{column}: {e['type']}")
    try:
        loose = _LOOSE.validate_json(raw) if isinstance(raw, bytes) else _LOOSE.validate_python(raw)
    except ValidationError:
        return [classify(exc)], 0
    kept = [i for i in range(_length(loose)) if i not in bad]
    refused = {i: RowRefusal(reason, message, i, _row_payload(loose, i))  # type: ignore[arg-type]
               for i, (reason, message) in bad.items()}
    keys = len(loose) + sum(len(v) for k in NAMED_COLUMNS if isinstance(v := loose.get(k), dict))
    if not kept:  # every row refused: nothing left to validate but the envelope's shape
        problem = _shape(loose, kind)
        if problem:
            return [RowRefusal("schema_violation", problem)], 0
        return [refused[i] for i in sorted(refused)], keys
    try:
        env = _VALIDATE.validate_python(_take(loose, kept))
    except ValidationError as again:
        return [classify(again)], 0
    return rows(env, kind, refused, kept), keys


def _shape(loose: Mapping[str, Any], kind: EventKind) -> str | None:
    """What refuses an envelope whose every row was refused: a missing column, lengths that differ."""
    event_kind = loose.get("event_kind") or kind
    n = _length(loose)
    for name in REQUIRED.get(event_kind, ()):
        if loose.get(name) is None:
            return f"columnar envelope lacks {name}"
    for name in ROW_COLUMNS:
        col = loose.get(name)
        if col is not None and (not isinstance(col, list) or len(col) != n):
            return f"column {name} has another length than event_id"
    for name in NAMED_COLUMNS:
        cols = loose.get(name)
        if cols is not None and (not isinstance(cols, dict)
                                 or any(not isinstance(v, list) or len(v) != n for v in cols.values())):
            return f"a column of {name}.* has another length than event_id"
    return None


def _length(loose: Mapping[str, Any]) -> int:
    ids = loose.get("event_id")
    return len(ids) if isinstance(ids, list) else 0


def _take(loose: Mapping[str, Any], rows: Sequence[int]) -> dict[str, Any]:
    """``loose`` with only ``rows`` in every column (columns of another length stay as they are)."""
    n = _length(loose)

    def pick(col: Any) -> Any:
        return [col[i] for i in rows] if isinstance(col, list) and len(col) == n else col

    out = dict(loose)
    for name in ROW_COLUMNS:
        if name in out:
            out[name] = pick(out[name])
    for name in NAMED_COLUMNS:
        if isinstance(out.get(name), dict):
            out[name] = {k: pick(v) for k, v in out[name].items()}
    return out


def _row_payload(loose: Mapping[str, Any], i: int) -> bytes:
    """Row ``i`` as a row-format event, for the dead-letter topic (never for logs)."""
    row: dict[str, Any] = {k: loose[k] for k in ("model_id", "model_version") if k in loose}
    if loose.get("event_kind") is not None:
        row["kind"] = loose["event_kind"]
    for name in ROW_COLUMNS:
        col = loose.get(name)
        if isinstance(col, list) and i < len(col):
            row[name] = col[i]
    for name in NAMED_COLUMNS:
        cols = loose.get(name)
        if isinstance(cols, dict):
            row[name] = {k: v[i] for k, v in cols.items() if isinstance(v, list) and i < len(v)}
    return json.dumps(row, separators=(",", ":"), default=str).encode()
