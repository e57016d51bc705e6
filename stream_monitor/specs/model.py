"""What to monitor for one model: features, reference, window, detectors, policy.

These models are part of :class:`~stream_monitor.settings.ServiceSettings` and are
the only place where label values of metrics come from: model ids, feature
names, versions and sensitive attribute names are all declared here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from stream_monitor.specs.labels import OTHER_GROUP, FairnessSpec, GroupName, LabelsSpec

__all__ = [
    "DetectorsSpec",
    "FeatureJoinSpec",
    "FeatureSpec",
    "FeatureType",
    "ModelSpec",
    "PredictionSpec",
    "ReferenceSpec",
    "RetrainPolicySpec",
    "SeasonalitySpec",
    "SequentialSpec",
    "StreamingSpec",
    "VersionReferenceSpec",
    "WINDOW_TEST_TYPES",
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


class StreamingSpec(BaseModel):
    """A streaming change detector on a per-event signal.

    ``kind`` is ``adwin``, ``kswin`` or ``page_hinkley``; ``params`` are passed
    to it (river's parameter names, e.g. ``delta`` for ADWIN). ``every`` feeds
    only every n-th event: KSWIN costs ~150 us per update, so sub-sample it.
    """

    model_config = _STRICT
    kind: Literal["adwin", "kswin", "page_hinkley"]
    signal: Literal["score"] = "score"
    params: dict[str, float | int | str] = Field(default_factory=dict)
    every: Annotated[int, Field(ge=1, le=10_000)] = 1

class SequentialSpec(BaseModel):
    """Per-event CUSUMs against the reference (:mod:`stream_monitor.detectors.cusum`).

    They see change as soon as the evidence is in, not when the window closes:
    an alarm closes the window early (unless the model already drifts). An
    alarm is evidence, not a decision: it drifts its feature once corroborated
    within ``confirm_events`` events (the same feature alarms again, a window
    test on it fires, or another input feature alarms; see
    :mod:`stream_monitor.decisions.corroboration`), and then enters the drift
    state at once. ``false_alarms_per_million`` is a bound on the expected
    alarms per million events over all streams of a model version while events
    follow the reference (averaged over the reference sample's own error; no
    single stream exceeds it even with its reference mean four standard errors
    off). ``reference_values`` are the CUSUMs' ``k`` in standard
    deviations of each signal (half the shift each one is tuned to): a small one
    for slow change, a large one for sudden change. ``max_pairs`` pairs of
    numeric features (the most correlated in the reference sample) are watched
    for correlation changes; ``variance`` adds the squared-score signal;
    ``residuals`` adds, for up to ``max_pairs`` pairs correlated by 0.3 or more,
    each feature's residual given the other (a shift of one feature that its
    correlated partner does not follow shows sooner there, at the smallest ``k``).
    ``head_start`` is where a stream restarts after an alarm, as a share of its
    threshold (a persisting shift alarms again in ``1 - head_start`` of the
    events, which corroborates the first alarm sooner). Unset, it is derived
    from the budget and ``confirm_events``: the share at which a restart
    reaches the threshold by chance no more often than another alarm falls in
    the corroboration horizon (0.75 for the demo model at the defaults; see
    :mod:`stream_monitor.detectors.cusum`).
    """

    model_config = _STRICT
    enabled: bool = True
    false_alarms_per_million: Annotated[float, Field(gt=0, le=100_000)] = 10.0
    reference_values: Annotated[list[Annotated[float, Field(gt=0, le=5)]], Field(min_length=1, max_length=4)] = (
        Field(default_factory=lambda: [0.1, 0.5]))
    variance: bool = True
    residuals: bool = True
    max_pairs: Annotated[int, Field(ge=0, le=100)] = 10
    confirm_events: Annotated[int, Field(ge=0, le=10_000_000)] = 2000
    # Where an alarmed stream restarts, as a share of its threshold (0: restart from zero);
    # unset: derived from the budget and the corroboration horizon.
    head_start: Annotated[float, Field(ge=0, lt=1)] | None = None


_MULTIVARIATE_DEFAULT: tuple[Literal["mmd"], ...] = ("mmd",)
_BOTH = frozenset({"numeric", "categorical"})
# The feature types each window test applies to, by config name: detectors/registry.py
# builds these tests (tests/unit/detectors/test_detectors.py checks that both name the same ones).
WINDOW_TEST_TYPES: Final[Mapping[str, frozenset[str]]] = MappingProxyType({
    "ks": frozenset({"numeric"}),
    "chi2": frozenset({"categorical"}),
    "psi": _BOTH,
    "jensen_shannon": _BOTH,
    "hellinger": _BOTH,
    "wasserstein": frozenset({"numeric"}),
    "mean_shift": frozenset({"numeric"}),
    "variance_shift": frozenset({"numeric"}),
    "unseen_share": frozenset({"categorical"}),
})


class DetectorsSpec(BaseModel):
    """Which window tests run, with their thresholds.

    p-value tests (``ks``, ``chi2``, ``mean_shift``, ``variance_shift``, ``mmd``)
    fire when the corrected p-value is at or below ``alpha`` *and* their effect
    size reaches its floor (``min_effect`` overrides the defaults: KS D 0.05,
    Cohen's w 0.1, d 0.1, log-sd ratio 0.1, MMD 0.05). Distance tests fire above
    their threshold: with ``threshold_mode: calibrated`` (the default) that is
    ``max(calibrated, floor)``, the floor being ``thresholds`` or each test's
    default; with ``fixed`` it is the floor alone.
    """

    model_config = _STRICT
    numeric: list[str] = Field(default_factory=lambda: ["ks", "psi"])
    categorical: list[str] = Field(default_factory=lambda: ["chi2", "psi"])
    prediction: list[str] | None = None  # default: numeric or categorical by prediction type
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.01
    correction: Literal["bonferroni", "benjamini-hochberg", "none"] = "bonferroni"
    thresholds: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    psi_bins: Annotated[int, Field(ge=2, le=100)] = 10
    missing_rate_threshold: Annotated[float, Field(gt=0, le=1)] = 0.1
    min_samples: Annotated[int, Field(ge=1)] = 200
    # Distance thresholds calibrated on the reference for each window size, at the
    # quantile 1 - alpha / (number of distance tests in a window); see
    # stream_monitor.detectors.calibration.
    threshold_mode: Literal["calibrated", "fixed"] = "calibrated"
    calibration_resamples: Annotated[int, Field(ge=200, le=100_000)] = 2000
    seed: int = 0
    min_effect: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    # Multivariate drift over all numeric features (needs a reference sample).
    multivariate: list[Literal["mmd"]] = Field(default_factory=lambda: list(_MULTIVARIATE_DEFAULT))
    mmd_features: Annotated[int, Field(ge=8, le=1024)] = 64
    streaming: list[StreamingSpec] = Field(default_factory=list)
    sequential: SequentialSpec = Field(default_factory=SequentialSpec)

    @model_validator(mode="after")
    def _known_tests(self) -> Self:
        for ftype, names in (("numeric", self.numeric), ("categorical", self.categorical)):
            for name in names:
                if name not in WINDOW_TEST_TYPES:
                    raise ValueError(f"unknown {ftype} test {name!r}")
                if ftype not in WINDOW_TEST_TYPES[name]:
                    raise ValueError(f"test {name!r} does not apply to {ftype} features")
        for name in self.thresholds:
            if name not in self.numeric + self.categorical + (self.prediction or []):
                raise ValueError(f"threshold for a test that is not enabled: {name!r}")
        for name in self.min_effect:
            if name not in [*self.numeric, *self.categorical, *(self.prediction or []), *self.multivariate]:
                raise ValueError(f"min_effect for a test that is not enabled: {name!r}")
        return self

    def threshold(self, test: str, default: float) -> float:
        return self.thresholds.get(test, default)

    def effect_floor(self, test: str, default: float | None) -> float | None:
        return self.min_effect.get(test, default)


class RetrainPolicySpec(BaseModel):
    """When a model-level drift decision becomes a retrain request."""

    model_config = _STRICT
    enabled: bool = True
    # Persistence, k of n: the model enters the drift state when at least
    # ``consecutive_windows`` (k) of the last ``of_windows`` (n, default k, i.e. k
    # in a row) sufficient windows drift. Hysteresis: it leaves the drift state
    # only when fewer than ``exit_below`` of the last n windows drift (default 1:
    # n clean windows in a row), so a breach that flickers is one incident, not many.
    consecutive_windows: Annotated[int, Field(ge=1, le=100)] = 2
    of_windows: Annotated[int, Field(ge=1, le=100)] | None = None
    exit_below: Annotated[int, Field(ge=1, le=100)] = 1
    cooldown_seconds: Annotated[float, Field(ge=0)] = 3600.0
    min_drifted_features: Annotated[int, Field(ge=1)] = 1
    # Data-quality breaches (missing rate) are reported and alerted on; they only
    # count towards a retrain request when this is set: a broken pipeline is
    # fixed upstream, not by retraining.
    include_data_quality: bool = False
    # Per-segment readings (``segments``) are reported and alerted on; they only
    # count towards a retrain request when this is set, like data quality.
    include_segments: bool = False

    @model_validator(mode="after")
    def _k_of_n(self) -> Self:
        if self.of_windows is not None and self.of_windows < self.consecutive_windows:
            raise ValueError("of_windows (n) must be at least consecutive_windows (k)")
        if self.exit_below > self.consecutive_windows:
            raise ValueError("exit_below must not exceed consecutive_windows")
        return self

    @property
    def history(self) -> int:
        """n: how many recent windows the k-of-n rule looks at."""
        return self.of_windows if self.of_windows is not None else self.consecutive_windows


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


class ModelSpec(BaseModel):
    """Everything stream-monitor needs to know about one model."""

    model_config = _STRICT
    model_id: LabelName
    versions: list[LabelName] = Field(default_factory=list)
    max_versions: Annotated[int, Field(ge=1, le=20)] = 3
    features: Annotated[list[FeatureSpec], Field(min_length=1, max_length=1000)]
    prediction: PredictionSpec = PredictionSpec()
    reference: ReferenceSpec
    # Versions with their own reference; others use ``reference`` (static or learned).
    version_references: dict[LabelName, VersionReferenceSpec] = Field(default_factory=dict)
    window: WindowSpec = WindowSpec()
    detectors: DetectorsSpec = DetectorsSpec()
    sensitive_attributes: list[LabelName] = Field(default_factory=list)
    retrain: RetrainPolicySpec = RetrainPolicySpec()
    # The label path (stream_monitor.specs.labels): ground truth and fairness; both optional.
    labels: LabelsSpec | None = None
    fairness: FairnessSpec | None = None
    # Per-segment drift (stream_monitor.windows.segments): attribute -> declared
    # groups; the window tests run per group (and ``other``) against the reference.
    segments: Annotated[
        dict[LabelName, Annotated[list[GroupName], Field(min_length=1, max_length=20)]], Field(max_length=8)
    ] = Field(default_factory=dict)
    feature_join: FeatureJoinSpec | None = None
    # Phase-matched reference (stream_monitor.windows.seasonal); ``none`` (the default): off.
    seasonality: SeasonalitySpec | None = None

    @field_validator("seasonality", mode="before")
    @classmethod
    def _none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() in ("none", "off", "") else value

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate feature names: {', '.join(dupes)}")
        if self.versions and len(self.versions) > self.max_versions:
            raise ValueError("more versions listed than max_versions")
        if self.fairness is not None:
            unknown = sorted(set(self.fairness.groups) - set(self.sensitive_attributes))
            if unknown:
                raise ValueError(f"fairness groups for attributes not in sensitive_attributes: {', '.join(unknown)}")
        for attr, gs in self.segments.items():
            if OTHER_GROUP in gs or len(set(gs)) != len(gs):
                raise ValueError(f"segments of {attr!r} must be distinct and not {OTHER_GROUP!r}")
        if self.seasonality is not None:
            if self.reference.learn_first_n is not None:
                raise ValueError("seasonality needs a reference file or profile with event times, "
                                 "not learn_first_n (the first events do not cover whole cycles)")
            if self.reference.rolling_windows is not None:
                raise ValueError("seasonality and reference.rolling_windows exclude each other "
                                 "(a rolling reference has no phase)")
            if self.detectors.streaming:
                raise ValueError("seasonality and detectors.streaming exclude each other (the streaming "
                                 "detectors see the raw score, not its phase; the sequential CUSUMs are phase-matched)")
        return self

    def params_hash(self) -> str:
        """A short hash of every parameter that shapes state; snapshots carry it."""
        # The label path has its own state and hash (stream_monitor.pipeline.label_monitor), so
        # adding it to a model does not reset the drift state. Segment windows carry
        # their own hash (stream_monitor.windows.segments) and the feature join only
        # routes events, so neither resets the model's windows either.
        # Seasonality is left out when off, so that models without it keep their hash; the
        # CUSUMs' head start only says where a stream restarts after an alarm (their sums stay
        # valid), so changing it keeps the state too.
        skip: dict[str, Any] = dict.fromkeys(("retrain", "labels", "fairness", "segments", "feature_join"), True)
        skip["detectors"] = {"sequential": {"head_start"}}
        if self.seasonality is None:
            skip["seasonality"] = True
        blob = self.model_dump_json(exclude=skip).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
