"""What a model reads and what it is compared with: features, prediction, reference, window.

The parts of :class:`~stream_monitor.specs.model.ModelSpec` that describe the data:
the inputs and the output of the model, where the reference comes from (a file,
a profile or the first events; per version; phase-matched by
:class:`SeasonalitySpec`), how windows close, and the feature-event join. Also
the label-safe name type every spec module uses.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

__all__ = [
    "FeatureJoinSpec",
    "FeatureSpec",
    "FeatureType",
    "LabelName",
    "PredictionSpec",
    "ReferenceSpec",
    "SeasonalitySpec",
    "VersionReferenceSpec",
    "WindowSpec",
]

# Label-safe names: they become Prometheus label values and JSON keys.
LabelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")]
FeatureType = Literal["numeric", "categorical", "boolean"]

_STRICT = ConfigDict(extra="forbid", frozen=True)


class FeatureSpec(BaseModel):
    """One model input. Booleans are monitored as two-category features."""

    model_config = _STRICT
    name: LabelName
    type: FeatureType = "numeric"


class PredictionSpec(BaseModel):
    """How to read the model output: a positive-class ``score``, a ``class`` label
    or a ``regression`` value. Its distribution is monitored like a feature."""

    model_config = _STRICT
    type: Literal["score", "class", "regression"] = "score"


class ReferenceSpec(BaseModel):
    """Where the reference distribution comes from: exactly one of ``path`` (a CSV
    or JSONL file of training/validation rows, profiled at start-up), ``profile``
    (the output of ``stream-monitor reference build``) or ``learn_first_n``."""

    model_config = _STRICT
    path: Path | None = None
    profile: Path | None = None
    learn_first_n: Annotated[int, Field(ge=50, le=200_000)] | None = None
    bins: Annotated[int, Field(ge=4, le=200)] = 50
    max_categories: Annotated[int, Field(ge=2, le=500)] = 50
    # A seeded sample of complete rows of the numeric features, kept in the
    # profile for multivariate tests (0: none); 1,000 rows x 20 features is
    # ~280 KB of JSON and ~0.8 MB in memory per model version. The MMD compares
    # every window with this same sample, so its sampling error repeats in every
    # window and can make consecutive windows fail together: at 500 rows, one of
    # 12 seeded 5,000-row demo references flagged 7.5% of stationary windows and
    # made 5 false decisions in 500,000 events; at 1,000 rows none of the 12 made
    # a false decision (one window of 2,400 flagged), and the benchmark's
    # correlation flip is decided after a median 14 events (24 at 500 rows;
    # 2,000 rows gave 14 too, for twice the memory).
    sample_rows: Annotated[int, Field(ge=0, le=5000)] = 1000
    sample_seed: int = 0
    # Rolling reference beside the static one: the last ``rolling_windows``
    # healthy windows (sufficient, no model drift). ``rolling_use: evidence``
    # reports readings against it; ``decide`` makes the decision on them instead
    # (for traffic with slow seasonal drift, where only sudden change matters).
    rolling_windows: Annotated[int, Field(ge=1, le=100)] | None = None
    rolling_use: Literal["evidence", "decide"] = "evidence"

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [x for x in (self.path, self.profile, self.learn_first_n) if x is not None]
        if len(given) != 1:
            raise ValueError("set exactly one of path, profile, learn_first_n")
        return self


class VersionReferenceSpec(BaseModel):
    """The reference of one model version: a data file (``path``) or a profile."""

    model_config = _STRICT
    path: Path | None = None
    profile: Path | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.path is None) == (self.profile is None):
            raise ValueError("set exactly one of path, profile")
        return self


class WindowSpec(BaseModel):
    """A tumbling window closes after ``events`` events or when event time has
    advanced ``seconds`` past its first event, whichever comes first."""

    model_config = _STRICT
    events: Annotated[int, Field(ge=10, le=10_000_000)] | None = 1000
    seconds: Annotated[float, Field(gt=0, le=30 * 86400)] | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Self:
        if self.events is None and self.seconds is None:
            raise ValueError("a window needs events, seconds or both")
        return self


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class SeasonalitySpec(BaseModel):
    """Compare each window with the reference at the same phase of a cycle (see docs/seasonality.md).

    ``period`` is the cycle (``1d``, ``7d``, ``12h``, ``90m`` or seconds); it is
    cut into ``buckets`` equal phase buckets, counted from the Unix epoch plus
    ``offset`` (e.g. ``-5h`` to align days with a time zone). The reference rows
    carry their event time in ``timestamp_column`` (Unix seconds or ISO 8601)
    and must cover at least ``min_cycles`` whole cycles with at least
    ``min_bucket_rows`` rows in every bucket, else the reference is refused.
    """

    model_config = _STRICT
    period: float
    buckets: Annotated[int, Field(ge=2, le=168)] = 24
    offset: float = 0.0
    timestamp_column: Annotated[str, Field(min_length=1, max_length=64)] = "timestamp"
    min_cycles: Annotated[float, Field(ge=1, le=1000)] = 1.0
    min_bucket_rows: Annotated[int, Field(ge=10, le=1_000_000)] = 200

    @field_validator("period", "offset", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        """``"1d"``, ``"12h"``, ``"-5h"``, ``"90m"``, ``"3600s"`` or a number of seconds."""
        if isinstance(value, str):
            m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*([smhdw]?)\s*", value)
            if m is None:
                raise ValueError(f"not a duration: {value[:20]!r} (use e.g. 1d, 12h, 90m or seconds)")
            return float(m.group(1)) * _UNITS[m.group(2) or "s"]
        return value

    @model_validator(mode="after")
    def _sane(self) -> Self:
        if not 60 <= self.period <= 366 * 86400:
            raise ValueError("seasonality period must be between 1 minute and 366 days")
        return self


class FeatureJoinSpec(BaseModel):
    """Join feature events to their prediction by ``event_id`` (and version).

    Off by default: feature events then update the open window directly. When
    set, a prediction without inline features waits at most ``ttl_seconds`` of
    event time for its feature event and a feature event waits as long for its
    prediction; at most ``max_pending`` of each wait (oldest evicted). What falls
    out is counted: predictions as *expired*, feature events as *orphaned*.
    Joined features update the window open when the join happens, with the
    prediction's segment groups. A waiting feature event holds its raw feature
    values in the snapshot, so size ``max_pending`` against the changelog's
    message limit (about 100 bytes per feature value before compression).
    """

    model_config = _STRICT
    ttl_seconds: Annotated[float, Field(gt=0, le=7 * 86400)] = 3600.0
    max_pending: Annotated[int, Field(ge=10, le=100_000)] = 5000


