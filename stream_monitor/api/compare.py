"""``compare(reference, current)``: one batch against a reference, through the stream's own core.

The reference rows are profiled by :func:`~stream_monitor.windows.profile.build_profile`
(as ``stream-monitor reference build`` does); every current row becomes a
prediction event, encoded to JSON and fed to :class:`stream_monitor.pipeline.monitor.Monitor`
(decode, windows, detectors, decision policy) exactly as the worker consumes
it; :meth:`~stream_monitor.pipeline.monitor.Monitor.finish` closes the last window.
Nothing here computes a statistic or takes a decision of its own.

Defaults of a comparison (a configuration given as a mapping is merged over
them; a :class:`~stream_monitor.specs.model.ModelSpec` is used as it is):

* one window holds the whole current batch (``window.events`` = its rows);
* the sequential (per-event CUSUM) detectors are off: rows of a batch have no
  order that means anything;
* ``retrain.consecutive_windows`` is 1: the one window decides.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np

from stream_monitor.api.result import Comparison, Distribution, Rejected
from stream_monitor.api.tables import Cell, Columns, Row, TableLike, infer_features, iter_rows, length, to_columns
from stream_monitor.detectors.streaming import check_model_spec
from stream_monitor.pipeline.monitor import Monitor as CoreMonitor
from stream_monitor.pipeline.outcome import Outcome, SourceRecord
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.accumulators import CategoricalAccumulator, NumericAccumulator, binning_for
from stream_monitor.windows.profile import NumericProfile, ReferenceProfile, build_profile, categorical_key

__all__ = ["EPOCH", "compare", "comparison_spec", "row_event"]

EPOCH: Final = 1_767_225_600.0  # 2026-01-01T00:00:00Z: event time of row 0 when rows carry none
_MAX_BYTES: Final = 64 * 1024 * 1024
_MAX_WINDOW: Final = 10_000_000
_CHUNK: Final = 5_000  # rows encoded and observed at once


def _merge(base: Mapping[str, object], over: Mapping[str, object]) -> dict[str, object]:
    out = dict(base)
    for key, value in over.items():
        mine = out.get(key)
        if isinstance(mine, Mapping) and isinstance(value, Mapping):
            out[key] = _merge(mine, value)
        else:
            out[key] = value
    return out


def comparison_spec(
    reference: Mapping[str, Sequence[Cell]], current_rows: int, config: ModelSpec | Mapping[str, object] | None = None,
) -> tuple[ModelSpec, tuple[tuple[str, str], ...]]:
    """The model spec of a comparison and the columns skipped (with reasons)."""
    if isinstance(config, ModelSpec):
        return check_model_spec(config), ()
    given = dict(config or {})
    inferred = infer_features(reference)
    defaults: dict[str, object] = {
        "model_id": "model",
        "features": [{"name": n, "type": t} for n, t in inferred.features],
        # The reference is the rows given; this block carries only its parameters.
        "reference": {"path": "reference"},
        "window": {"events": min(max(current_rows, 10), _MAX_WINDOW)},
        "detectors": {"sequential": {"enabled": False}},
        "retrain": {"consecutive_windows": 1},
    }
    spec = check_model_spec(ModelSpec.model_validate(_merge(defaults, given)))
    return spec, (inferred.skipped if "features" not in given else ())


def row_event(row: Row, index: int, spec: ModelSpec) -> dict[str, object]:
    """A current row as a prediction event of ``spec``'s model (row ``index``)."""
    names = [f.name for f in spec.features]
    ts = row.get("timestamp")
    pred = row.get("prediction", row.get("score"))
    event: dict[str, object] = {
        "kind": "prediction",
        "event_id": str(row.get("event_id") or f"row-{index}"),
        "model_id": spec.model_id,
        "model_version": str(row.get("model_version") or "current"),
        "timestamp": ts if isinstance(ts, int | float | str) and not isinstance(ts, bool) else EPOCH + index,
        "prediction": pred if pred is not None else 0.0,
        "features": {n: row.get(n) for n in names},
    }
    score = row.get("score")
    if isinstance(score, float | int) and not isinstance(score, bool):
        event["score"] = float(score)
    return event


def _distribution(name: str, profile: ReferenceProfile, values: Sequence[Cell]) -> Distribution:
    prof = profile.features[name]
    binning = binning_for(prof)
    if isinstance(prof, NumericProfile):
        nums = np.fromiter((v for v in values if type(v) is float or type(v) is int), dtype=float)
        acc = NumericAccumulator.empty(binning)
        acc.update(nums, binning, missing=len(values) - nums.size)
        return Distribution(name, "numeric", prof.edges, (), tuple(prof.counts), tuple(int(c) for c in acc.counts),
                            prof.missing, len(values) - nums.size)
    keys = [k for k in (categorical_key(v) for v in values) if k is not None]
    cat = CategoricalAccumulator.empty(binning)
    cat.update(keys, binning, missing=len(values) - len(keys))
    return Distribution(name, "categorical", (), prof.categories, prof.bin_counts(),
                        tuple(int(c) for c in cat.counts), prof.missing, len(values) - len(keys))


def _observe(core: CoreMonitor, spec: ModelSpec, current: Columns) -> list[Outcome]:
    """Feed the current rows as prediction events, ``_CHUNK`` at a time (batching never
    changes a decision; it bounds the encoded and decoded events held at once)."""
    rows, n = iter_rows(current), length(current)
    outcomes = []
    for lo in range(0, n, _CHUNK):
        records = [SourceRecord("prediction", json.dumps(row_event(next(rows), i, spec), default=str).encode(),
                                "current", 0, i) for i in range(lo, min(lo + _CHUNK, n))]
        # ``now`` only bounds event-time skew, which a comparison leaves unbounded.
        outcomes.append(core.observe(records, now=0.0))
    outcomes.append(core.finish())
    return outcomes


def compare(
    reference: TableLike,
    current: TableLike,
    config: ModelSpec | Mapping[str, object] | None = None,
) -> Comparison:
    """Compare ``current`` with ``reference`` using the stream's detectors and decision policy.

    Parameters
    ----------
    reference, current
        pandas DataFrames, Arrow tables or lists of dicts, one row per prediction.
        Columns ``prediction``/``score`` (model output) and ``timestamp`` (event
        time) are used when present; every other column is a feature.
    config
        ``None``: infer the feature types from the reference
        (:mod:`stream_monitor.api.tables` states the rule). A mapping: model
        configuration (as in the YAML ``models:`` list) merged over the defaults
        of a comparison. A :class:`~stream_monitor.specs.model.ModelSpec`: used as is.

    Examples
    --------
    >>> import random
    >>> rnd = random.Random(0)
    >>> ref = [{"x": rnd.gauss(0, 1), "c": rnd.choice("ab")} for _ in range(2000)]
    >>> cur = [{"x": rnd.gauss(1, 1), "c": rnd.choice("ab")} for _ in range(2000)]
    >>> result = compare(ref, cur)
    >>> result.drifted_features  # the multivariate test runs over every numeric feature
    ('x', '__multivariate__')
    >>> result.state.value, len(result.requests)
    ('drift', 1)
    """
    ref, cur = to_columns(reference), to_columns(current)
    spec, skipped = comparison_spec(ref, length(cur), config)
    profile = build_profile(spec, iter_rows(ref), source="reference")
    core = CoreMonitor([spec], {spec.model_id: profile}, max_message_bytes=_MAX_BYTES)
    outcomes = _observe(core, spec, cur)
    rejected = tuple(Rejected(d.record.offset, d.reason, d.message) for o in outcomes for d in o.dead_letters)
    missing: list[Cell] = [None] * length(cur)
    return Comparison(
        model_id=spec.model_id,
        feature_types=tuple((f.name, f.type) for f in spec.features),
        windows=tuple(r for o in outcomes for r in o.reports),
        requests=tuple(r for o in outcomes for r in o.requests),
        distributions=tuple(_distribution(f.name, profile, cur.get(f.name, missing)) for f in spec.features),
        skipped=skipped,
        rejected=rejected,
        reference_rows=length(ref),
        current_rows=length(cur),
    )
