"""The persisted state of the detectors: streaming (per-event) detectors and CUSUM banks.

One frozen model per detector; a detector builds it with ``to_state()`` and is rebuilt
from it (``restore_streaming``, ``restore_concept``, :meth:`CusumBank.from_state`).
Serialisation is pydantic's. Field names and shapes are those of the version-1
snapshot (see :mod:`stream_monitor.pipeline.snapshot` for versions and migrations).

Examples
--------
>>> s = CusumState(sums=[0, 3], alarms=[1, 0], window_alarms=[0, 0])
>>> CusumState.model_validate_json(s.model_dump_json()) == s
True
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel

from stream_monitor.windows.persist import From, Int64Array, NegInfAsNone, PosInfAsNone
from stream_monitor.windows.state import STATE_CONFIG

__all__ = [
    "AdwinState",
    "AlgorithmState",
    "CusumState",
    "DdmState",
    "KswinState",
    "PageHinkleyState",
    "StreamParams",
    "StreamingState",
]


class AdwinState(BaseModel):
    """ADWIN's exponential histogram: per row the bucket totals and variances."""

    model_config = STATE_CONFIG
    totals: Annotated[list[list[float]], From("_totals")]
    variances: Annotated[list[list[float]], From("_variances")]
    total: Annotated[float, From("_total")]
    variance: Annotated[float, From("_variance")]
    width: Annotated[float, From("_width")]
    tick: Annotated[int, From("_tick")]


class DdmState(BaseModel):
    """DDM's running error rate and its minimum; ``ps_min`` ``None`` while infinite."""

    model_config = STATE_CONFIG
    n: Annotated[int, From("_n")]
    p: Annotated[float, From("_p")]
    p_min: Annotated[float | None, From("_p_min")]
    s_min: Annotated[float | None, From("_s_min")]
    ps_min: Annotated[PosInfAsNone, From("_ps_min")]
    warning: bool


class KswinState(BaseModel):
    """KSWIN's window and the state of its random generator (``random.getstate()``)."""

    model_config = STATE_CONFIG
    window: Annotated[list[float], From("_window")]
    rng: Annotated[tuple[int, list[int], float | None], From("_rng_state")]
    p_value: Annotated[float, From("_det.p_value")]
    n: Annotated[int, From("_det.n")]
    drift: Annotated[bool, From("_det._drift_detected")]


class PageHinkleyState(BaseModel):
    """Page-Hinkley's running mean and cumulative sums; infinite extremes are ``None``."""

    model_config = STATE_CONFIG
    mean_n: Annotated[float, From("_det._x_mean.n")]
    mean: Annotated[float, From("_det._x_mean._mean")]
    sum_increase: Annotated[float, From("_det._sum_increase")]
    sum_decrease: Annotated[float, From("_det._sum_decrease")]
    min_increase: Annotated[PosInfAsNone, From("_det._min_increase")]
    max_decrease: Annotated[NegInfAsNone, From("_det._max_decrease")]
    drift: Annotated[bool, From("_det._drift_detected")]


# The four have pairwise different required fields, so the union is never ambiguous.
AlgorithmState = AdwinState | DdmState | KswinState | PageHinkleyState


# A streaming detector's constructor parameters (``params()``, and the snapshot's copy).
StreamParams = dict[str, float | int | str | bool | None]


class StreamingState(BaseModel):
    """A streaming detector: its kind and parameters, counters, and the algorithm's state."""

    model_config = STATE_CONFIG
    kind: str
    params: StreamParams
    every: int
    seen: int
    updates: int
    skipped: int
    detections: int
    drift: Annotated[bool, From("_drift")]
    algorithm: AlgorithmState


class CusumState(BaseModel):
    """:class:`~stream_monitor.detectors.cusum.CusumBank`: fixed-point sums and alarm counts per stream."""

    model_config = STATE_CONFIG
    sums: Int64Array
    alarms: Int64Array
    window_alarms: Int64Array
