"""The readings every test produces: one kind of value for the drift and the label paths.

A :class:`Reading` is one statistic of one subject in one window, with what it
was judged against. Window tests, sequential alarms, performance, concept
drift, representation and fairness all produce it; the decision policy
(:mod:`stream_monitor.decisions.policy`) judges and decides them alike.

For label-path readings ``detector`` is ``"<kind>:<metric>"`` (e.g.
``performance:accuracy``, ``fairness:tpr_gap``), ``feature`` the subject (the
metric, or ``attribute=group``), ``baseline`` the reference value compared
with, ``se`` the value's standard error and ``attribute`` the sensitive
attribute of a group reading.

Readings come unjudged (``drift`` False): the policy decides them. A reading
with a ``p_value`` is corrected together with the other readings of its
``family`` in the window (``None``: the drift path's tests against the same
``reference``; the label path: ``performance``, ``fairness``,
``representation``), and fires only when its ``effect`` also reaches
``effect_floor``; a reading without one fires when ``value`` exceeds
``threshold``.

Examples
--------
>>> r = label_reading("performance", "accuracy", "accuracy", 0.71, 0.9, 0.9, 1000, p_value=1e-6,
...                   family="performance")
>>> r.detector, r.feature, r.kind, r.label_path, r.drift
('performance:accuracy', 'accuracy', 'performance', True, False)
>>> Reading("amount", "ks", "ks", 0.2, 0.01, 1e-5, True, 1000, 5000).kind
'ks'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LABEL_KINDS", "Quality", "Reading", "label_reading"]

# The kinds of label-path readings (the part of ``detector`` before the colon).
LABEL_KINDS = frozenset({"performance", "estimate", "concept", "fairness", "representation"})


@dataclass(frozen=True, slots=True)
class Reading:
    """One test on one subject in one window. ``threshold`` is the corrected
    alpha for p-value tests and the statistic's threshold for distance tests."""

    feature: str
    detector: str
    statistic: str
    value: float
    threshold: float
    p_value: float | None
    drift: bool
    n: int
    n_reference: int
    effect: float | None = None  # p-value tests: the effect size (e.g. KS D, Cohen's w)
    effect_floor: float | None = None  # ... which must reach this for the test to fire
    reference: str = "static"  # what it compared against: "static" (or learned) or "rolling"
    baseline: float | None = None  # label path: the reference value compared with
    se: float | None = None  # label path: the value's standard error
    attribute: str | None = None  # label path: the sensitive attribute of a group reading
    family: str | None = None  # multiple-testing family (None: the drift tests against ``reference``)

    @property
    def kind(self) -> str:
        """The test's family: ``ks``, ``cusum``, ..., or a label-path kind (``performance``, ...)."""
        return self.detector.split(":", 1)[0]

    @property
    def label_path(self) -> bool:
        return self.kind in LABEL_KINDS


def label_reading(
    kind: str,
    metric: str,
    subject: str,
    value: float,
    baseline: float | None,
    threshold: float,
    n: int,
    *,
    p_value: float | None = None,
    effect: float | None = None,
    effect_floor: float | None = None,
    family: str | None = None,
    attribute: str | None = None,
    se: float | None = None,
) -> Reading:
    """An unjudged label-path reading: ``kind:metric`` of ``subject``, compared with ``baseline``.

    ``threshold`` is the tolerance the value is held to; with a ``p_value`` (a test of
    *the value is within the tolerance*) the policy judges the p-value in ``family``."""
    return Reading(subject, f"{kind}:{metric}", metric, value, threshold, p_value, False, n, 0, effect,
                   effect_floor, baseline=baseline, se=se, attribute=attribute, family=family)


@dataclass(frozen=True, slots=True)
class Quality:
    """Data-quality rates of one feature in one window (shares of values seen)."""

    feature: str
    observed: int
    missing_rate: float
    mismatched_rate: float
    out_of_range_rate: float | None  # numeric features
    unseen_rate: float | None  # categorical features
