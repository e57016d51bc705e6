"""A rolling reference: the merged accumulators of the last N healthy windows.

A static reference answers "has the traffic moved away from training?"; a
rolling one answers "did it just change?". Slow, seasonal drift shows against
the static reference only; a sudden change shows against both. The rolling
profile uses the static profile's bins, so the same window accumulators serve
both comparisons; its moments come from the merged running sums.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from stream_monitor.windows.accumulators import CategoricalAccumulator, NumericAccumulator
from stream_monitor.windows.profile import CategoricalProfile, NumericProfile, ReferenceProfile
from stream_monitor.windows.window import Accumulator, Window

__all__ = ["rolling_profile"]


def _numeric(static: NumericProfile, acc: NumericAccumulator) -> NumericProfile:
    var = acc.variance()
    return NumericProfile(
        edges=static.edges,
        counts=tuple(int(c) for c in acc.counts),
        missing=acc.missing,
        minimum=static.minimum,
        maximum=static.maximum,
        mean=acc.mean() if acc.n else static.mean,
        std=math.sqrt(var) if acc.n > 1 and math.isfinite(var) else static.std,
        kurtosis=static.kurtosis,
    )


def _categorical(static: CategoricalProfile, acc: CategoricalAccumulator) -> CategoricalProfile:
    counts = acc.counts
    return CategoricalProfile(
        categories=static.categories,
        counts=tuple(int(c) for c in counts[:-1]),
        other=int(counts[-1]),
        missing=acc.missing,
    )


def _profile(static: NumericProfile | CategoricalProfile, acc: Accumulator) -> NumericProfile | CategoricalProfile:
    if isinstance(static, NumericProfile):
        assert isinstance(acc, NumericAccumulator)
        return _numeric(static, acc)
    assert isinstance(acc, CategoricalAccumulator)
    return _categorical(static, acc)


def rolling_profile(static: ReferenceProfile, windows: Sequence[Window]) -> ReferenceProfile | None:
    """The profile of the merged ``windows`` on ``static``'s bins (``None`` if empty)."""
    if not windows:
        return None
    merged = windows[0]
    for w in windows[1:]:
        merged = merged.merge(w)
    if any(np.sum(a.counts) == 0 for a in merged.accumulators.values()):
        return None
    features = {name: _profile(static.features[name], acc) for name, acc in merged.accumulators.items()}
    prediction = None
    if static.prediction is not None and merged.prediction is not None and merged.prediction.n:
        prediction = _profile(static.prediction, merged.prediction)
    return ReferenceProfile(
        model_id=static.model_id,
        source=f"rolling: windows {windows[0].index}-{windows[-1].index}",
        rows=merged.n,
        features=features,
        prediction=prediction,
    )
