"""The CUSUM bank wired to a model: its layout per reference, its input per batch, its readings.

:mod:`stream_monitor.detectors.cusum` knows profiles and columns; this module
knows models and events. The model monitor calls :func:`sequential_layout` when
a version starts (cached: a pure function of the reference and the settings),
:func:`event_increments` for every batch, and :func:`sequential_readings` when a
window closes: one reading per feature (``detector="cusum"``), the number of
alarms in the window against a threshold of 0.5, its ``statistic`` naming the
streams that fired.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from stream_monitor.detectors.cusum import CusumBank
from stream_monitor.detectors.cusum_signals import CusumLayout
from stream_monitor.detectors.reading import Reading
from stream_monitor.events.models import FeatureEvent, PredictionEvent
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.accumulators import Binned
from stream_monitor.windows.columns import Column, columns_of, prediction_values
from stream_monitor.windows.profile import (
    MULTIVARIATE,
    PREDICTION,
    CategoricalProfile,
    NumericProfile,
    ReferenceCache,
    ReferenceProfile,
)

__all__ = ["CLEAR_EVIDENCE", "DETECTOR", "event_increments", "sequential_layout",
           "sequential_readings"]

CLEAR_EVIDENCE = 1.25  # a residual side is blamed alone when its evidence is this many times the other side's

DETECTOR = "cusum"
_CACHE: ReferenceCache[CusumLayout] = ReferenceCache()


def sequential_layout(spec: ModelSpec, reference: ReferenceProfile) -> CusumLayout | None:
    """The CUSUM layout for ``reference``, or ``None`` when sequential detection is off."""
    seq = spec.detectors.sequential
    if not seq.enabled:
        return None
    params = seq.model_dump_json() + spec.model_dump_json(include={"features"}) + str(spec.detectors.seed)
    return _CACHE.get(reference, params, lambda: _build_layout(spec, reference))


def _build_layout(spec: ModelSpec, reference: ReferenceProfile) -> CusumLayout:
    seq = spec.detectors.sequential
    numeric = {f.name: p for f in spec.features
               if f.type == "numeric" and isinstance(p := reference.features.get(f.name), NumericProfile)}
    categorical = {f.name: p for f in spec.features
                   if f.type != "numeric" and isinstance(p := reference.features.get(f.name), CategoricalProfile)}
    sample = (reference.sample.features, reference.sample.rows) if reference.sample is not None else None
    correlation = None
    if seq.residuals and reference.sample is not None and reference.sample.correlation is not None:
        correlation = (reference.sample.features, reference.sample.correlation, reference.sample.correlation_rows)
    return CusumLayout.build(
        numeric, categorical, reference.prediction, sample,
        ks=seq.reference_values, rate_per_event=seq.false_alarms_per_million / 1e6,
        seed=spec.detectors.seed, max_pairs=seq.max_pairs, variance=seq.variance, correlation=correlation,
        horizon=seq.confirm_events,
    )


def event_increments(
    layout: CusumLayout,
    events: Sequence[PredictionEvent | FeatureEvent],
    prediction_type: str,
    columns: Mapping[str, Column] | None = None,
    predictions: Column | None = None,
    bins: Mapping[str, Binned] | None = None,
) -> np.ndarray:
    """The (events, streams) fixed-point increments of a batch, in event order.

    ``columns`` may hold the features' values per event already (aligned with
    ``events``); they are read from the events when it lacks one of them.
    ``predictions`` (each event's prediction value, ``None`` for feature events)
    and ``bins`` (a window's bins of ``columns`` and ``predictions``) save reading
    the predictions and binning the values again.
    """
    names = layout.input_names
    if columns is None or not all(n in columns for n in names):
        columns, bins = columns_of([e.features if e.features is not None else {} for e in events], names), None
    if any(i.name == PREDICTION for i in layout.inputs) and predictions is None:
        predictions = prediction_values(events, prediction_type)
    return layout.increments(columns, predictions, len(events), bins)


def sequential_readings(layout: CusumLayout, bank: CusumBank, n: int, n_reference: int) -> list[Reading]:
    """One reading per watched feature (the prediction and the correlation pairs included).

    A residual ``a given b`` moves when either feature moves (by ``1/|beta|``
    times more when ``a`` does), so a pair's residual alarms are blamed on the
    side with clearly more evidence, and on the pair (``__multivariate__``)
    when neither has: a shift of ``a`` alone must not name ``b``. A side's
    evidence is its residual streams' alarms in the window plus how far the
    nearest of them is towards its threshold now (a fraction below 1), so one
    alarm of ``b given a`` just before ``a given b`` would have alarmed too is
    a near tie, not a verdict; "clearly" is :data:`CLEAR_EVIDENCE` times more.
    """
    window = bank.window_alarms
    by_side: dict[tuple[str, str], float] = {}
    progress: dict[tuple[str, str], float] = {}
    for i, s in enumerate(layout.streams):
        if s.partner is not None:
            side = (s.feature, s.partner)
            by_side[side] = by_side.get(side, 0.0) + int(window[i])
            progress[side] = max(progress.get(side, 0.0), int(bank.sums[i]) / int(layout.thresholds[i]))
    for side, p in progress.items():
        by_side[side] += p
    fired: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for i, s in enumerate(layout.streams):
        counts.setdefault(s.feature, 0)
        if not window[i]:
            continue
        blame, label = s.feature, s.label
        if s.partner is not None:
            mine, theirs = by_side[(s.feature, s.partner)], by_side.get((s.partner, s.feature), 0.0)
            if theirs >= CLEAR_EVIDENCE * mine:
                continue
            if mine < CLEAR_EVIDENCE * theirs:
                blame, label = MULTIVARIATE, f"{s.feature} {s.label}"
        counts[blame] = counts.get(blame, 0) + int(window[i])
        fired.setdefault(blame, []).append(label)
    order = [f for f in counts if f not in (PREDICTION, MULTIVARIATE)]
    order += [f for f in (PREDICTION, MULTIVARIATE) if f in counts]
    return [
        Reading(f, DETECTOR, "alarms" + (": " + "; ".join(fired[f]) if f in fired else ""),
                float(counts[f]), 0.5, None, False, n, n_reference)
        for f in order
    ]
