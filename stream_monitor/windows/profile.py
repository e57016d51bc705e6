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
    _as_float,
    as_float,
    categorical_key,
    prediction_kind,
)

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
    numeric = {f.name: [] for f in spec.features if f.type == "numeric"}  # type: dict[str, list[float]]
    categorical = {f.name: Counter() for f in spec.features if f.type != "numeric"}  # type: dict[str, Counter[str]]
    missing = Counter()  # type: Counter[str]
    pred_num: list[float] = []
    pred_cat: Counter[str] = Counter()
    pred_missing = 0
    pred_is_cat = prediction_kind(spec) == "categorical"
    n_rows = 0
    sample_size = spec.reference.sample_rows
    reservoir: list[list[float]] = []
    wide: list[list[float]] = []  # the larger reservoir behind the correlation matrix
    complete = 0
    sampler = np.random.default_rng(spec.reference.sample_seed)
    wide_sampler = np.random.default_rng([spec.reference.sample_seed, 0x434F52])
    for row in rows:
        n_rows += 1
        parsed = []
        for name, vals in numeric.items():
            x = _as_float(row.get(name))
            parsed.append(x)
            if x is None:
                missing[name] += 1
            else:
                vals.append(x)
        if sample_size and parsed and all(x is not None for x in parsed):
            complete += 1
            _keep(reservoir, parsed, sample_size, complete, sampler)  # type: ignore[arg-type]
            _keep(wide, parsed, CORRELATION_ROWS, complete, wide_sampler)  # type: ignore[arg-type]
        for name, counter in categorical.items():
            key = categorical_key(row.get(name))
            if key is None:
                missing[name] += 1
            else:
                counter[key] += 1
        raw = next((row[c] for c in prediction_column if row.get(c) not in (None, "")), None)
        pred_missing += not _tally(raw, pred_is_cat, pred_cat, pred_num)
    if n_rows == 0:
        raise ValueError("the reference has no rows")
    bins, max_cat = spec.reference.bins, spec.reference.max_categories
    features: dict[str, NumericProfile | CategoricalProfile] = {}
    for f in spec.features:
        if f.type == "numeric":
            vals = numeric[f.name]
            if not vals:
                raise ValueError(f"feature {f.name!r} has no numeric value in the reference")
            features[f.name] = _numeric_profile(np.asarray(vals, dtype=float), missing[f.name], bins)
        else:
            features[f.name] = _categorical_profile(categorical[f.name], missing[f.name], max_cat)
    prediction: NumericProfile | CategoricalProfile | None = None
    if pred_is_cat and pred_cat:
        prediction = _categorical_profile(pred_cat, pred_missing, max_cat)
    elif not pred_is_cat and pred_num:
        prediction = _numeric_profile(np.asarray(pred_num, dtype=float), pred_missing, bins)
    return ReferenceProfile(
        model_id=spec.model_id, source=source, rows=n_rows, features=features, prediction=prediction,
        sample=_sample(list(numeric), reservoir, wide, features, spec),
    )


def _tally(value: Any, categorical: bool, counts: Counter[str], values: list[float]) -> bool:
    """Count one cell into ``counts`` (categorical) or ``values`` (numeric); False when it is missing."""
    if categorical:
        key = categorical_key(value)
        if key is not None:
            counts[key] += 1
        return key is not None
    x = _as_float(value)
    if x is not None:
        values.append(x)
    return x is not None


def _keep(reservoir: list[list[float]], row: list[float], size: int, seen: int, rng: np.random.Generator) -> None:
    """Reservoir sampling (algorithm R): after ``seen`` rows, each is kept with chance ``size / seen``."""
    if len(reservoir) < size:
        reservoir.append(row)
    else:
        j = int(rng.integers(seen))
        if j < size:
            reservoir[j] = row


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
