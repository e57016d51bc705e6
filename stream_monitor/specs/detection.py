"""How a model is judged: window tests, streaming and sequential detectors, the retrain policy.

The parts of :class:`~stream_monitor.specs.model.ModelSpec` that configure the
detectors (:class:`DetectorsSpec` with its :class:`StreamingSpec` and
:class:`SequentialSpec`) and the decision policy (:class:`RetrainPolicySpec`),
and the catalogue of window tests by feature type (:data:`WINDOW_TEST_TYPES`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Final, Literal, Self

from pydantic import BaseModel, Field, model_validator

from stream_monitor.specs.inputs import _STRICT

__all__ = [
    "DetectorsSpec",
    "RetrainPolicySpec",
    "SequentialSpec",
    "StreamingSpec",
    "WINDOW_TEST_TYPES",
]


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
    :mod:`stream_monitor.detectors.cusum_thresholds`).
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


