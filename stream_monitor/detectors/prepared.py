"""A reference's counts together with what the window tests derive from them alone.

Every window close compares a window with the same reference counts: PSI floors
the reference's shares, the pooled distances (``psi``, ``jensen_shannon``,
``hellinger`` on numeric bins) pool its bins into groups of equal mass, and KS
needs its empirical CDF. None of these depends on the window.
:class:`PreparedReference` holds the counts and computes each of these quantities
the first time a test asks for it, then keeps it: a reference prepared once (the
static reference of an evaluation plan) serves every window close without
recomputing them, and one prepared for a single comparison (a rolling reference,
a reference mixed to a window's phases) computes only what its tests ask for.

The quantities are those of :func:`~stream_monitor.detectors.distances.coarse_groups`,
:func:`~stream_monitor.detectors.distances.floored_shares` and
:func:`~stream_monitor.detectors.two_sample.reference_cdf` on the counts, so a test
answers the same numbers from a prepared reference as from the raw counts. The
kept arrays are read-only: every window close shares them. The counts themselves
are not copied (nor made read-only): callers must not change them afterwards.

Window tests accept either raw counts or a prepared reference (:data:`Reference`);
:func:`prepare` turns raw counts into a prepared reference.

Examples
--------
>>> import numpy as np
>>> ref = prepare(np.array([10, 30, 60]))
>>> ref.cdf()[0], ref.cdf()[1].tolist()
(100, [0.1, 0.4, 1.0])
>>> ref.cdf()[1] is ref.cdf()[1]  # computed once
True
>>> ref.floored_shares(1e-4).tolist()
[0.1, 0.3, 0.6]
>>> ref.pooled(5) is None  # no more bins than groups: nothing to pool
True
>>> starts, pooled = prepare(np.full(8, 5)).pooled(2)
>>> starts.tolist(), pooled.counts.tolist()
([0, 4], [20, 20])
>>> prepare(ref) is ref
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np

from stream_monitor.detectors.distances import coarse_groups, floored_shares
from stream_monitor.detectors.two_sample import reference_cdf

__all__ = ["PreparedReference", "Reference", "counts_of", "prepare"]


def _read_only(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, slots=True, eq=False)
class PreparedReference:
    """Reference counts on a window's bins and, once asked for, what the tests derive from them."""

    counts: np.ndarray
    _pooled: dict[int, tuple[np.ndarray, PreparedReference] | None] = field(
        default_factory=dict, init=False, repr=False)
    _floored: dict[float, np.ndarray] = field(default_factory=dict, init=False, repr=False)
    _cdf: list[tuple[int, np.ndarray]] = field(default_factory=list, init=False, repr=False)

    def pooled(self, bins: int) -> tuple[np.ndarray, PreparedReference] | None:
        """The first fine bin of each of at most ``bins`` groups of about equal mass, and the
        counts pooled into those groups (``None`` when there are no more than ``bins`` bins)."""
        if bins not in self._pooled:
            groups = coarse_groups(self.counts, bins)
            self._pooled[bins] = None if groups is None else (
                _read_only(groups[0]), PreparedReference(_read_only(groups[1])))
        return self._pooled[bins]

    def floored_shares(self, epsilon: float) -> np.ndarray:
        """The shares of the counts floored at ``epsilon`` (PSI's reference shares)."""
        p = self._floored.get(epsilon)
        if p is None:
            p = self._floored[epsilon] = _read_only(floored_shares(self.counts, epsilon))
        return p

    def cdf(self) -> tuple[int, np.ndarray]:
        """The number of values and their empirical CDF at the bin edges."""
        if not self._cdf:
            m, cdf = reference_cdf(self.counts)
            self._cdf.append((m, _read_only(cdf)))
        return self._cdf[0]


# What a window test accepts as its reference: raw counts or counts prepared once.
Reference: TypeAlias = np.ndarray | PreparedReference


def prepare(reference: Reference) -> PreparedReference:
    """``reference`` itself when it is prepared, else its counts prepared afresh."""
    if isinstance(reference, PreparedReference):
        return reference
    return PreparedReference(np.asarray(reference))


def counts_of(reference: Reference) -> np.ndarray:
    """The reference counts, prepared or not."""
    return reference.counts if isinstance(reference, PreparedReference) else reference
