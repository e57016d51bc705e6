"""Configuration of the label path: ground-truth join, performance, fairness.

Two optional groups of :class:`~stream_monitor.specs.model.ModelSpec`:

* ``labels`` (:class:`LabelsSpec`): join labels to predictions by ``event_id``,
  windowed performance on the joined pairs, concept drift on the error stream,
  label-free performance estimation and the champion/challenger comparison of
  versions;
* ``fairness`` (:class:`FairnessSpec`): representation and outcome fairness per
  sensitive-attribute group.

Per-segment drift (``ModelSpec.segments``) and the feature-event join
(``ModelSpec.feature_join``) are part of the drift path:
:mod:`stream_monitor.windows.segments`, :mod:`stream_monitor.pipeline.feature_join`.

Group names become Prometheus label values, so they come from here only: a
value not declared is counted as :data:`OTHER_GROUP`.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

__all__ = [
    "HIGHER_IS_BETTER",
    "OTHER_GROUP",
    "ConceptSpec",
    "FairnessSpec",
    "LabelsSpec",
    "PERFORMANCE_METRICS",
]

LabelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")]
GroupName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$")]
OTHER_GROUP = "other"

CLASSIFICATION = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "calibration_error")
REGRESSION = ("mae", "rmse", "mape", "bias")
PERFORMANCE_METRICS = CLASSIFICATION + REGRESSION
HIGHER_IS_BETTER = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc"})

_STRICT = ConfigDict(extra="forbid", frozen=True)


class ConceptSpec(BaseModel):
    """A detector on the error stream of joined pairs (0/1 errors for
    classifiers, absolute errors for regression): ``adwin`` or ``ddm`` (DDM needs
    0/1 errors, so it is classification only)."""

    model_config = _STRICT
    kind: Literal["adwin", "ddm"]
    params: dict[str, float | int] = Field(default_factory=dict)


def _default_concept() -> list[ConceptSpec]:
    # DDM's river default warm_start (30) fires on stationary low error rates; 500 does not.
    return [ConceptSpec(kind="adwin", params={"delta": 0.002}), ConceptSpec(kind="ddm", params={"warm_start": 500})]


class LabelsSpec(BaseModel):
    """How labels join predictions and how performance is judged.

    The join is keyed by ``event_id`` and sized by the traffic
    (:mod:`stream_monitor.pipeline.joins`): a prediction waits for twice the
    observed 99th-percentile label delay (at least ``join_min_ttl_seconds``, at
    most ``join_ttl_seconds`` of event time), within ``max_pending_bytes`` of
    estimated memory (and ``max_pending`` entries, if set); at the cap the
    buffer keeps a uniform sample of the predictions instead of dropping the
    oldest. Labels that come before their prediction wait in a buffer of
    ``max_pending_labels``. Performance windows close after ``window_pairs``
    joined pairs. A window breaches a metric when it is worse than the reference
    by more than the confidence interval of the difference (window and, for a
    learned reference, reference sample sizes; two-sided ``alpha`` shared by the
    compared metrics) and by at least ``min_drop`` (absolute, per metric).
    The reference is ``reference_performance`` (metric -> value), else learned
    per version from its *reference period*: the first ``learn_first_n``
    predictions (2000 when neither is set) kept for joining while the drift path
    did not report the version's inputs in warning or drift. The reference is
    computed on the pairs of exactly those predictions (never sampled out), once
    all of them are joined, or the observed 99th-percentile label delay has
    passed since the last of them (with at least ``min_pairs`` pairs), or their
    TTL has passed; pairs of later predictions are never part of it, whatever
    order their labels arrive in. A period that yields fewer than ``min_pairs``
    pairs is extended by another period. Reference data (``reference``) holds no
    labels, so it cannot give the reference performance; ``reference_performance``
    does, when it is known. Binary classifiers with scores also get a label-free
    estimate (``estimate``): per prediction window, and on each pair window
    checked against the realized accuracy of the same events.
    """

    model_config = _STRICT
    task: Literal["binary", "multiclass", "regression"] = "binary"
    positive_label: str = "1"  # binary: this label (true/1/"1" all read as "1") is the positive class
    threshold: Annotated[float, Field(gt=0, lt=1)] = 0.5  # score -> class when the prediction is not a class
    join_ttl_seconds: Annotated[float, Field(gt=0, le=365 * 86400)] = 7 * 86400.0
    join_min_ttl_seconds: Annotated[float, Field(gt=0)] = 600.0
    # ~570 bytes per waiting prediction (measured): 32 MiB hold ~58k predictions; above that the
    # buffer samples uniformly. The buffer travels in the partition's snapshot: full, it
    # compresses to ~0.6 MB (64 MiB: 1.2 MB, measured), under Kafka's default 1 MB per message.
    max_pending_bytes: Annotated[int, Field(ge=1 << 20, le=16 << 30)] = 32 << 20
    max_pending: Annotated[int, Field(ge=10)] | None = None
    max_pending_labels: Annotated[int, Field(ge=10, le=200_000)] = 10_000
    window_pairs: Annotated[int, Field(ge=10, le=10_000_000)] = 1000
    min_pairs: Annotated[int, Field(ge=1)] = 200
    score_bins: Annotated[int, Field(ge=4, le=200)] = 50  # logit-spaced, for AUC, calibration, estimation
    max_classes: Annotated[int, Field(ge=2, le=100)] = 20
    reference_performance: dict[str, float] = Field(default_factory=dict)
    learn_first_n: Annotated[int, Field(ge=50, le=10_000_000)] | None = None
    metrics: list[str] | None = None  # which metrics are judged (default: all the reference has)
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.01
    min_drop: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    concept: list[ConceptSpec] = Field(default_factory=_default_concept)
    estimate: bool = True  # label-free estimate for binary classifiers with calibrated scores
    compare_versions: bool = True  # champion/challenger differences between live versions

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        allowed = REGRESSION if self.task == "regression" else CLASSIFICATION
        for name in [*self.reference_performance, *(self.metrics or []), *self.min_drop]:
            if name not in allowed:
                raise ValueError(f"metric {name!r} is not a {self.task} metric (use {', '.join(allowed)})")
        if self.task == "regression" and any(c.kind == "ddm" for c in self.concept):
            raise ValueError("ddm needs 0/1 errors: not for regression (use adwin)")
        if self.reference_performance and self.learn_first_n is not None:
            raise ValueError("set reference_performance or learn_first_n, not both")
        if self.min_pairs > self.window_pairs:
            raise ValueError("min_pairs must not exceed window_pairs")
        return self


class FairnessSpec(BaseModel):
    """Representation and outcome fairness per group of each attribute in ``groups``.

    ``groups`` declares, per sensitive attribute, the group values reported;
    other values count as ``other``. Windows close after ``window_events``
    predictions (default: the drift window's ``events``). Outcome metrics of a
    group with fewer than ``min_group_size`` events (pairs, for the label-based
    gaps) are suppressed. Representation: a chi-square goodness-of-fit test of
    the window's group counts against ``reference_shares`` (or the shares of the
    first ``learn_first_n`` predictions); it breaches when p <= ``alpha``
    (Bonferroni over the window's group readings) and a group's share ratio falls
    below ``share_ratio_min`` or above its inverse.

    Outcome gaps (parity difference, impact ratio, TPR and FPR gaps) are tested
    against their tolerance (:func:`stream_monitor.detectors.fairness.gap_test`);
    the decision policy corrects a window's gap tests together at ``alpha /
    alpha_windows`` (Bonferroni; alpha spent evenly over ``alpha_windows``
    windows: a false rejection within any ``alpha_windows`` windows has
    probability at most ``alpha``). A breaching window counts towards the
    model's k-of-n persistence like any other, and a gap makes a request
    critical only once it breached in ``retrain.consecutive_windows`` of the
    last ``retrain.of_windows`` windows: one chance rejection never makes a
    request, nor its severity.
    """

    model_config = _STRICT
    groups: dict[LabelName, Annotated[list[GroupName], Field(min_length=1, max_length=50)]]
    min_group_size: Annotated[int, Field(ge=1)] = 100
    window_events: Annotated[int, Field(ge=10, le=10_000_000)] | None = None
    disparate_impact_min: Annotated[float, Field(gt=0, le=1)] = 0.8
    parity_difference_max: Annotated[float, Field(gt=0, le=1)] = 0.1
    tpr_gap_max: Annotated[float, Field(gt=0, le=1)] = 0.1
    fpr_gap_max: Annotated[float, Field(gt=0, le=1)] = 0.1
    reference_shares: dict[LabelName, dict[GroupName, Annotated[float, Field(ge=0, le=1)]]] = Field(
        default_factory=dict
    )
    learn_first_n: Annotated[int, Field(ge=50, le=10_000_000)] = 1000
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.01
    alpha_windows: Annotated[int, Field(ge=1, le=1_000_000)] = 10
    share_ratio_min: Annotated[float, Field(gt=0, lt=1)] = 0.5

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for attr, shares in self.reference_shares.items():
            if attr not in self.groups:
                raise ValueError(f"reference_shares for an attribute without groups: {attr!r}")
            unknown = set(shares) - {*self.groups[attr], OTHER_GROUP}
            if unknown:
                raise ValueError(f"reference_shares of undeclared groups of {attr!r}: {sorted(unknown)}")
            if abs(sum(shares.values()) - 1.0) > 1e-6:
                raise ValueError(f"reference_shares of {attr!r} must sum to 1")
        for attr, gs in self.groups.items():
            if OTHER_GROUP in gs or len(set(gs)) != len(gs):
                raise ValueError(f"groups of {attr!r} must be distinct and not {OTHER_GROUP!r}")
        return self
