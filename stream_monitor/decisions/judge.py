"""Judging one window's readings: multiple-testing control per family, thresholds, floors.

Every window, drift or label path, is judged here, once, before the policy's
persistence and request rules (:mod:`stream_monitor.decisions.policy`).

* A reading with a p-value is corrected together with the other p-value
  readings of its *family* in the same window, at the family's level:

  ============================  ==================================  ==========================
  family                        level                               correction
  ============================  ==================================  ==========================
  drift tests (``None``), per   ``detectors.alpha``                 ``detectors.correction``
  reference (static, rolling)
  ``performance``               ``labels.alpha``                    Bonferroni
  ``fairness``                  ``fairness.alpha / alpha_windows``  Bonferroni
  ``representation``            ``fairness.alpha``                  Bonferroni
  ============================  ==================================  ==========================

  ``performance`` holds the one-sided tests of a window's metrics against the
  reference and of the realized against the estimated accuracy (pair
  windows), or of the estimated metrics (prediction windows); ``fairness`` the
  group-gap tests against their tolerance, so a window of a stationary stream
  has a chance gap rejection with probability at most ``alpha /
  alpha_windows`` (any ``alpha_windows`` windows: at most ``alpha``).
  Readings of one chi-square representation test share its p-value and each
  counts once (conservative). A rejected p-value fires only when the reading's
  effect also reaches its floor.
* A reading without a p-value fires when its value exceeds its threshold.
* Sequential readings (``cusum``) are evidence: they are left undecided here
  and corroborated by the policy.
* Nothing fires in an insufficient window, nor (drift path) a test on fewer
  than ``min_samples`` values, data-quality rates excepted.

The multiple-testing correction, :func:`reject`, is in one place for every
p-value test. With F features each tested at ``alpha``, some feature "drifts"
in almost every window by chance. Bonferroni controls the family-wise error
rate (any false alarm); Benjamini-Hochberg controls the false discovery rate
and keeps more power when several features truly move.

Examples
--------
>>> reject([0.001, 0.02, 0.04, 0.5], 0.05, "bonferroni")
([True, False, False, False], 0.0125)
>>> reject([0.001, 0.02, 0.04, 0.5], 0.05, "benjamini-hochberg")
([True, True, False, False], 0.025)
>>> reject([0.001, 0.02, 0.04, 0.5], 0.05, "none")
([True, True, True, False], 0.05)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from stream_monitor.detectors.reading import Reading
from stream_monitor.specs.model import ModelSpec

__all__ = ["DATA_QUALITY", "SEQUENTIAL", "Correction", "decided", "judge", "level", "reject"]

DATA_QUALITY = frozenset({"missing_rate"})
SEQUENTIAL = "cusum"
Correction = Literal["bonferroni", "benjamini-hochberg", "none"]


def level(spec: ModelSpec, family: str | None) -> tuple[float, Correction]:
    """The family-wise level of one window's tests of ``family`` and its correction."""
    if family == "performance" and spec.labels is not None:
        return spec.labels.alpha, "bonferroni"
    if family == "fairness" and spec.fairness is not None:
        return spec.fairness.alpha / spec.fairness.alpha_windows, "bonferroni"
    if family == "representation" and spec.fairness is not None:
        return spec.fairness.alpha, "bonferroni"
    if family is not None:
        raise ValueError(f"no level for the test family {family!r} in the config of {spec.model_id!r}")
    return spec.detectors.alpha, spec.detectors.correction


def reject(p_values: Sequence[float], alpha: float, method: Correction) -> tuple[list[bool], float]:
    """Decide which hypotheses to reject; also return the effective per-test threshold.

    A p-value is rejected when it is at or below the returned threshold.
    """
    m = len(p_values)
    if m == 0:
        return [], alpha
    if method == "none":
        threshold = alpha
    elif method == "bonferroni":
        threshold = alpha / m
    else:
        ranked = sorted(p_values)
        threshold = 0.0
        for k, p in enumerate(ranked, start=1):
            if p <= k / m * alpha:
                threshold = k / m * alpha
    return [p <= threshold for p in p_values], threshold


def decided(r: Reading, drift: bool, threshold: float | None = None) -> Reading:
    """``r`` with its decision (and corrected threshold): ``dataclasses.replace`` without
    its per-field introspection (~3 us a call; a window close makes ~100)."""
    return Reading(r.feature, r.detector, r.statistic, r.value, r.threshold if threshold is None else threshold,
                   r.p_value, drift, r.n, r.n_reference, r.effect, r.effect_floor, r.reference, r.baseline, r.se,
                   r.attribute, r.family)


def judge(readings: Sequence[Reading], spec: ModelSpec, *, insufficient: bool, min_samples: int) -> list[Reading]:
    """The window's readings, decided; see the module docstring.

    Drift tests (family ``None``) get the corrected alpha as their threshold; the
    label path's keep their tolerance (the p-value is compared with the level)."""
    families: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(readings):
        if r.p_value is not None and r.detector != SEQUENTIAL:
            key = ("drift", r.reference) if r.family is None else ("family", r.family)
            families.setdefault(key, []).append(i)
    rejected: dict[int, tuple[bool, float]] = {}
    for (scope, name), idx in families.items():
        alpha, method = level(spec, name if scope == "family" else None)
        flags, corrected = reject([readings[i].p_value for i in idx], alpha, method)  # type: ignore[misc]
        rejected.update({i: (f, corrected) for i, f in zip(idx, flags, strict=True)})
    out = []
    for i, r in enumerate(readings):
        if r.detector == SEQUENTIAL:  # evidence: it drifts only once corroborated (policy._sequential)
            out.append(decided(r, False))
            continue
        quiet = insufficient or (r.detector not in DATA_QUALITY and r.n < min_samples)
        if r.p_value is not None:
            flag, corrected = rejected[i]
            large_enough = r.effect_floor is None or (r.effect is not None and r.effect >= r.effect_floor)
            out.append(decided(r, flag and large_enough and not quiet, corrected if r.family is None else None))
        else:
            out.append(decided(r, r.value > r.threshold and not quiet))
    return out
