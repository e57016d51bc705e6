"""The monitor's snapshot: typed state, a schema version, and one migration per version step.

A snapshot is zlib-compressed JSON of :class:`MonitorState` (never pickle). Decoding
checks the version, applies the migrations from that version up to
:data:`SNAPSHOT_SCHEMA` in order, and validates the result against the models; anything
that does not decode, comes from an unknown version or does not validate raises
:class:`~stream_monitor.errors.SnapshotError` (the caller starts fresh).

Versions
--------
1
    The hand-written JSON of the first releases. Parts added over its life (detectors,
    segments, the label path, the event-time bound, ...) may be absent from older ones.
2
    :class:`MonitorState`: every part present (or explicitly absent where it is
    optional). :func:`migrate_1_to_2` fills what an old version-1 snapshot lacks with what
    its restore used to assume.

Examples
--------
>>> state = MonitorState(positions=[("t", 0, 5)], models={}, pending=[], routed=[],
...                      outcomes={}, newest={}, learned={})
>>> decode_snapshot(encode_snapshot(state)) == state
True
>>> decode_snapshot(b"not a snapshot")
Traceback (most recent call last):
...
stream_monitor.errors.SnapshotError: cannot decode snapshot: Error -3 while decompressing data: incorrect header check
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, Field, ValidationError

from stream_monitor.decisions.request import RetrainRequest
from stream_monitor.errors import SnapshotError
from stream_monitor.pipeline.intake import OTHER_VERSION, VERSION_PATTERN
from stream_monitor.pipeline.state import ModelMonitorState, OutcomeMonitorState
from stream_monitor.windows.persist import Configured, Fixed
from stream_monitor.windows.persist_mappings import SortedKeys, as_rows, as_values
from stream_monitor.windows.state import STATE_CONFIG

__all__ = ["MIGRATIONS", "SNAPSHOT_SCHEMA", "MonitorState", "decode_snapshot", "encode_snapshot", "migrate_1_to_2"]

SNAPSHOT_SCHEMA: Final = 2

_VERSION = re.compile(VERSION_PATTERN)  # the version names the monitor learns


class MonitorState(BaseModel):
    """:class:`~stream_monitor.pipeline.monitor.Monitor`: consumed positions (topic,
    partition, offset), per-model drift and label state, requests not yet published,
    routed positions (topic, partition, model, offset), the newest event time and the
    learned versions (and when each was last seen) per model. Positions and routed positions
    are stored as sorted rows, the mappings in key order; learned versions are restored for the
    models that learn versions."""

    model_config = STATE_CONFIG
    schema_version: Annotated[Literal[2], Fixed()] = Field(default=2, alias="schema")
    positions: Annotated[list[tuple[str, int, int]], as_rows(2, single=True, sort=True)]
    models: dict[str, ModelMonitorState]
    pending: Annotated[list[RetrainRequest], as_values("request_id")]
    routed: Annotated[list[tuple[str, int, str, int]], as_rows(3, single=True, sort=True)]
    outcomes: dict[str, OutcomeMonitorState]
    newest: Annotated[dict[str, float], SortedKeys]
    learned: Annotated[dict[str, dict[str, float]], SortedKeys, Configured()]


def encode_snapshot(state: MonitorState) -> bytes:
    """The snapshot bytes of ``state``."""
    return zlib.compress(state.model_dump_json(by_alias=True).encode(), 6)


def decode_snapshot(blob: bytes) -> MonitorState:
    """The state a snapshot holds, migrated to the current schema; :class:`SnapshotError` otherwise."""
    try:
        data = json.loads(zlib.decompress(blob))
    except (zlib.error, ValueError) as exc:
        raise SnapshotError(f"cannot decode snapshot: {exc}") from None
    version = data.get("schema") if isinstance(data, dict) else None
    if not isinstance(version, int) or not 1 <= version <= SNAPSHOT_SCHEMA:
        raise SnapshotError("snapshot schema version differs; starting fresh")
    try:
        for step in range(version, SNAPSHOT_SCHEMA):
            data = MIGRATIONS[step](data)
        return MonitorState.model_validate(data)
    except ValidationError as exc:
        raise SnapshotError(f"snapshot does not match schema {SNAPSHOT_SCHEMA}: {_where(exc)}") from None
    except (LookupError, TypeError, ValueError, AttributeError) as exc:
        raise SnapshotError(f"cannot migrate a version-{version} snapshot: {type(exc).__name__}") from None


def _where(exc: ValidationError) -> str:
    """Where the first error is and its kind; never the offending value (it may be a feature value)."""
    first = exc.errors()[0]
    return f"{'.'.join(str(x) for x in first['loc'])[:200]} ({first['type']}; {exc.error_count()} errors)"


# -- migrations: one function per version step, on the plain JSON of the older version ----------------


def migrate_1_to_2(raw: Mapping[str, object]) -> dict[str, object]:
    """Version 1 -> 2: the parts older version-1 snapshots lack, as their restore assumed them.

    Absent routed positions, newest times and label-path state start empty; absent learned
    versions are the snapshot's well-formed versions, last seen at the newest time; absent
    detectors and rolling windows start fresh; a policy without k-of-n history had a streak
    of drifted windows; an old fairness streak is dropped (the policy's per-subject
    persistence replaced it); label join rows without a pin are unpinned."""
    data: Any = raw  # plain JSON of an older version: its shape is checked after the migration
    out = {**data, "schema": 2, "routed": data.get("routed") or [], "newest": data.get("newest") or {},
           "outcomes": data.get("outcomes") or {}}
    out["models"] = {m: _model_1(d) for m, d in data["models"].items()}
    learned = dict(data.get("learned") or {})
    for m, d in out["models"].items():
        if m not in learned:
            at = float(out["newest"].get(m, 0.0))
            learned[m] = {v: at for v in d["versions"] if _VERSION.fullmatch(v) and v != OTHER_VERSION}
    out["learned"] = learned
    out["outcomes"] = {m: _outcomes_1(d) for m, d in out["outcomes"].items()}
    return out


def _model_1(d: Mapping[str, Any]) -> dict[str, Any]:
    versions = {}
    for v, s in d["versions"].items():
        versions[v] = {**s, "streams": s.get("streams") or {}, "stream_marks": s.get("stream_marks") or {},
                       "healthy": s.get("healthy") or [], "incarnation": str(s.get("incarnation") or ""),
                       "policy": _policy_1(s["policy"])}
    return {**d, "versions": versions}


def _outcomes_1(d: Mapping[str, Any]) -> dict[str, Any]:
    versions = {}
    for v, s in d["versions"].items():
        s = {k: x for k, x in s.items() if k != "fair_streaks"}
        versions[v] = {**s, "pair_policy": _policy_1(s["pair_policy"]), "pred_policy": _policy_1(s["pred_policy"]),
                       "reference_period": s.get("reference_period") or [0, None, 0],
                       "incarnation": str(s.get("incarnation") or "")}
    join = d.get("join")
    return {**d, "versions": versions, "join": _label_join_1(join) if join is not None else None}


def _policy_1(p: Mapping[str, Any]) -> dict[str, Any]:
    history = p.get("history")
    return {**p, "history": [True] * int(p["streak"]) if history is None else history,
            "position": p.get("position") or 0, "marks": p.get("marks") or [],
            "incident": p.get("incident") or {}, "windows": p.get("windows") or 0, "subjects": p.get("subjects") or {}}


def _label_join_1(j: Mapping[str, Any]) -> dict[str, Any]:
    return {**j, "preds": [[*row[:4], int(row[4]) if len(row) > 4 else 0] for row in j["preds"]],
            "tombstones": j.get("tombstones") or [], "halvings": j.get("halvings") or 0,
            "delays": j.get("delays") or [], "ttl": j.get("ttl")}


# Version n -> n + 1, in order; each takes and returns the plain JSON of its versions.
MIGRATIONS: Final[Mapping[int, Callable[[Mapping[str, object]], dict[str, object]]]] = {1: migrate_1_to_2}
