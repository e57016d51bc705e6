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

from pydantic import BaseModel

from stream_monitor.windows.persist import Int64Array
from stream_monitor.windows.state import STATE_CONFIG

__all__ = [
    "AdwinState",
    "AlgorithmState",
    "CusumState",
    "DdmState",
    "KswinState",
    "PageHinkleyState",
    "StreamingState",
]


class AdwinState(BaseModel):
    """ADWIN's exponential histogram: per row the bucket totals and variances."""

    model_config = STATE_CONFIG
    totals: list[list[float]]
    variances: list[list[float]]
    total: float
    variance: float
    width: float
    tick: int


class DdmState(BaseModel):
    """DDM's running error rate and its minimum; ``ps_min`` ``None`` while infinite."""

    model_config = STATE_CONFIG
    n: int
    p: float
    p_min: float | None
    s_min: float | None
    ps_min: float | None
    warning: bool


class KswinState(BaseModel):
    """KSWIN's window and the state of its random generator (``random.getstate()``)."""

    model_config = STATE_CONFIG
    window: list[float]
    rng: tuple[int, list[int], float | None]
    p_value: float
    n: int
    drift: bool


class PageHinkleyState(BaseModel):
    """Page-Hinkley's running mean and cumulative sums; infinite extremes are ``None``."""

    model_config = STATE_CONFIG
    mean_n: float
    mean: float
    sum_increase: float
    sum_decrease: float
    min_increase: float | None
    max_decrease: float | None
    drift: bool


# The four have pairwise different required fields, so the union is never ambiguous.
AlgorithmState = AdwinState | DdmState | KswinState | PageHinkleyState


class StreamingState(BaseModel):
    """A streaming detector: its kind and parameters, counters, and the algorithm's state."""

    model_config = STATE_CONFIG
    kind: str
    params: dict[str, float | int | str | bool | None]
    every: int
    seen: int
    updates: int
    skipped: int
    detections: int
    drift: bool
    algorithm: AlgorithmState


class CusumState(BaseModel):
    """:class:`~stream_monitor.detectors.cusum.CusumBank`: fixed-point sums and alarm counts per stream."""

    model_config = STATE_CONFIG
    sums: Int64Array
    alarms: Int64Array
    window_alarms: Int64Array
