"""Reference profiles: building the compact summary a window is compared against.

A profile holds, per feature, the bin edges derived from reference quantiles and
the reference counts in those bins (numeric), or the most frequent categories
and their counts (categorical). The worker keeps profiles, never raw reference
rows: memory is O(features x bins). The profile's values live in
:mod:`stream_monitor.windows.reference_profile` (re-exported here); this module
builds them from rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.float_matrix import FloatMatrix
from stream_monitor.windows.reference_profile import (
    MULTIVARIATE,
    PREDICTION,
    CategoricalProfile,
    NumericProfile,
    ReferenceCache,
    ReferenceEmbedding,
    ReferenceProfile,
    ReferenceSample,
    as_float,
    categorical_key,
    prediction_kind,
)
from stream_monitor.windows.reference_rows import RowTally

__all__ = [
    "MULTIVARIATE",
    "PREDICTION",
    "CategoricalProfile",
    "NumericProfile",
    "ReferenceCache",
    "ReferenceEmbedding",
    "ReferenceProfile",
    "ReferenceSample",
    "as_float",
    "build_profile",
    "categorical_key",
    "prediction_kind",
]

CORRELATION_ROWS = 20_000  # complete rows behind ReferenceSample.correlation (~20 MB while building 30 features)


def _numeric_profile(values: np.ndarray, missing: int, bins: int) -> NumericProfile:
    if values.size == 0:
        raise ValueError("a numeric reference needs at least one value")
    qs = np.quantile(values, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    edges = np.unique(qs)
    idx = np.searchsorted(edges, values, side="right")
    counts = np.bincount(idx, minlength=edges.size + 1)
    return NumericProfile(
        edges=tuple(float(e) for e in edges),
        counts=tuple(int(c) for c in counts),
        missing=missing,
        minimum=float(values.min()),
        maximum=float(values.max()),
        mean=float(values.mean()),
        std=float(values.std()),
        kurtosis=_excess_kurtosis(values),
    )


def _excess_kurtosis(values: np.ndarray) -> float:
    """Sample excess kurtosis (0 for a normal distribution, 0 for constants)."""
    centred = values - values.mean()
    var = float(np.mean(centred**2))
    if var <= 0:
        return 0.0
    return round(float(np.mean(centred**4)) / (var * var) - 3.0, 6)


def _categorical_profile(values: Counter[str], missing: int, max_categories: int) -> CategoricalProfile:
    ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
    top, rest = ranked[:max_categories], ranked[max_categories:]
    return CategoricalProfile(
        categories=tuple(k for k, _ in top),
        counts=tuple(c for _, c in top),
        other=sum(c for _, c in rest),
        missing=missing,
    )


def build_profile(
    spec: ModelSpec,
    rows: Iterable[Mapping[str, Any]],
    *,
    source: str,
    prediction_column: Sequence[str] = ("score", "prediction"),
) -> ReferenceProfile:
    """Profile reference rows (dicts of column -> value) for ``spec``.

    Numeric cells that do not parse as finite numbers count as missing. The
    prediction profile comes from the first column of ``prediction_column``
    present in the rows, if any. With ``spec.seasonality`` the profile also
    holds the reference per phase bucket (:mod:`stream_monitor.windows.seasonal_build`;
    every row needs its event time, and the rows must cover whole cycles).
    """
    if spec.seasonality is not None:
        from stream_monitor.windows.seasonal_build import SeasonalBuilder  # it builds on this module

        builder = SeasonalBuilder(spec, prediction_column)
        whole = _build_profile(spec, builder.watch(rows), source=source, prediction_column=prediction_column)
        return whole.model_copy(update={"seasonal": builder.finish(whole)})
    return _build_profile(spec, rows, source=source, prediction_column=prediction_column)


def _build_profile(
    spec: ModelSpec,
    rows: Iterable[Mapping[str, Any]],
    *,
    source: str,
    prediction_column: Sequence[str],
) -> ReferenceProfile:
    tally = RowTally(spec, prediction_column, correlation_rows=CORRELATION_ROWS)
    for row in rows:
        tally.add(row)
    if tally.rows == 0:
        raise ValueError("the reference has no rows")
    bins, max_cat = spec.reference.bins, spec.reference.max_categories
    features: dict[str, NumericProfile | CategoricalProfile] = {}
    for f in spec.features:
        if f.type == "numeric":
            vals = tally.numeric[f.name]
            if not vals:
                raise ValueError(f"feature {f.name!r} has no numeric value in the reference")
            features[f.name] = _numeric_profile(np.asarray(vals, dtype=float), tally.missing[f.name], bins)
        else:
            features[f.name] = _categorical_profile(tally.categorical[f.name], tally.missing[f.name], max_cat)
    prediction: NumericProfile | CategoricalProfile | None = None
    if tally.prediction_is_categorical and tally.pred_cat:
        prediction = _categorical_profile(tally.pred_cat, tally.pred_missing, max_cat)
    elif not tally.prediction_is_categorical and tally.pred_num:
        prediction = _numeric_profile(np.asarray(tally.pred_num, dtype=float), tally.pred_missing, bins)
    return ReferenceProfile(
        model_id=spec.model_id, source=source, rows=tally.rows, features=features, prediction=prediction,
        sample=_sample(list(tally.numeric), tally.reservoir, tally.wide, features, spec),
    )


def _sample(
    names: list[str],
    reservoir: list[list[float]],
    wide: list[list[float]],
    features: Mapping[str, NumericProfile | CategoricalProfile],
    spec: ModelSpec,
) -> ReferenceSample | None:
    if not names or not reservoir:
        return None
    from stream_monitor.windows.embedding import normal_scores  # the transform lives with the embedding

    def scores(got: list[list[float]]) -> np.ndarray:
        x = np.asarray(got, dtype=float)
        for j, name in enumerate(names):
            prof = features[name]
            assert isinstance(prof, NumericProfile)
            x[:, j] = normal_scores(x[:, j], prof)
        return x

    x = scores(reservoir)
    rows = tuple(tuple(round(float(v), 4) for v in r) for r in x)
    correlation = None
    if len(names) >= 2 and len(wide) >= 20:
        with np.errstate(invalid="ignore", divide="ignore"):  # a constant feature: no correlation
            c = np.corrcoef(scores(wide), rowvar=False)
        c = np.where(np.isfinite(c), c, 0.0)
        np.fill_diagonal(c, 1.0)
        correlation = tuple(tuple(round(float(v), 4) + 0.0 for v in r) for r in c)  # + 0.0: no -0.0
    embedding = None
    det = spec.detectors
    if det.multivariate and len(wide) >= 20 and len(rows) >= 20:
        from stream_monitor.windows.embedding import embedding_parameters, random_features

        sample_scores = np.asarray(rows, dtype=float)
        bandwidth, omega = embedding_parameters(sample_scores, n_features=det.mmd_features, seed=det.seed)
        mean = random_features(scores(wide), omega).mean(axis=0)
        embedding = ReferenceEmbedding(n_features=det.mmd_features, seed=det.seed, rows=len(wide),
                                       mean=tuple(float(v) for v in mean), bandwidth=bandwidth)
    return ReferenceSample(features=tuple(names), rows=FloatMatrix(rows),
                           correlation=FloatMatrix(correlation) if correlation is not None else None,
                           correlation_rows=len(wide) if correlation is not None else 0, embedding=embedding)
