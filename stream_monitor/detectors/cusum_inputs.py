"""The signals of one input of the CUSUM layout (a feature or the prediction) and their lookup per event.

:func:`_numeric_tables` and :func:`_categorical_tables` give every reference bin
its signal values (the standardised normal score and its square; the
standardised surprisal, capped at ``SURPRISAL_CAP``: see *Signals* in
:mod:`stream_monitor.detectors.cusum_signals`). :class:`_Tables` collects them
as :meth:`~stream_monitor.detectors.cusum_signals.CusumLayout.build` reads the
profiles, and an :class:`_Input` maps each event's value to its reference bin's
row of stream increments.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import repeat

import numpy as np
from scipy import special

from stream_monitor.windows.accumulators import Binned
from stream_monitor.windows.columns import Column
from stream_monitor.windows.profile import PREDICTION, CategoricalProfile, NumericProfile, categorical_key

__all__ = ["SURPRISAL_CAP", "_Input", "_Numeric", "_Signal", "_Slot", "_Tables"]

SURPRISAL_CAP = 4.0  # one unseen category must not alarm on its own: a run of them does


@dataclass(frozen=True, slots=True)
class _Numeric:
    name: str
    edges: np.ndarray
    z: np.ndarray  # standardised normal score per bin
    v: np.ndarray  # standardised squared score per bin


def _numeric_tables(name: str, p: NumericProfile) -> tuple[_Numeric, np.ndarray] | None:
    counts = np.asarray(p.counts, dtype=float)
    if counts.sum() <= 0 or counts.size < 2:
        return None
    pr = counts / counts.sum()
    cum = np.concatenate([[0.0], np.cumsum(pr)])
    mid = np.clip((cum[:-1] + cum[1:]) / 2, 1e-9, 1 - 1e-9)
    s = special.ndtri(mid)
    m = float(pr @ s)
    sd = math.sqrt(float(pr @ (s - m) ** 2))
    if sd <= 0:
        return None
    z = (s - m) / sd
    sq = z * z
    vm = float(pr @ sq)
    vs = math.sqrt(float(pr @ (sq - vm) ** 2))
    v = (sq - vm) / vs if vs > 0 else np.zeros_like(sq)
    return _Numeric(name, np.asarray(p.edges, dtype=float), z, v), pr


def _categorical_tables(p: CategoricalProfile) -> tuple[np.ndarray, np.ndarray] | None:
    """Standardised, capped surprisal per category bin (the last: other or unseen) and the bins' probabilities."""
    counts = np.asarray(p.bin_counts(), dtype=float)
    if counts.sum() <= 0:
        return None
    if p.other == 0:  # the last bin stands for unseen categories: half a count, as the reference can tell
        counts[-1] = 0.5
    pr = counts / counts.sum()
    sur = -np.log(pr)
    m = float(pr @ sur)
    sd = math.sqrt(float(pr @ (sur - m) ** 2))
    if sd <= 0:
        return None
    std = np.clip((sur - m) / sd, -SURPRISAL_CAP, SURPRISAL_CAP)
    return std, pr


@dataclass(frozen=True, slots=True)
class _Input:
    """The streams of one input (a feature or the prediction): their increment per
    reference bin, so that a batch costs one lookup per event."""

    name: str
    edges: np.ndarray | None  # numeric inputs: bin edges
    index: Mapping[str, int] | None  # categorical inputs: category -> row (unseen: ``unseen_row``)
    table: np.ndarray  # (rows, streams of this input) int64; the last row (not observed) is all 0
    cols: np.ndarray  # those streams' positions in the layout
    z: np.ndarray | None  # numeric inputs: the standardised score per row (0 when not observed), for pairs

    @property
    def unseen_row(self) -> int:
        return int(self.table.shape[0]) - 2

    def rows(self, values: Column, n: int) -> np.ndarray:
        """The table row of each value; values that are missing or of the wrong type get the last row."""
        missing = self.table.shape[0] - 1
        if self.edges is not None:
            x, ok = _floats(values, n)
            b = np.searchsorted(self.edges, x, side="right")
            b[~ok] = missing
            return b
        assert self.index is not None
        get, unseen = self.index.get, self.unseen_row
        if len(values) == n and set(map(type, values)) == {str} and "" not in values:
            return np.fromiter(map(get, values, repeat(unseen)), dtype=np.int64, count=n)
        out = np.full(n, missing, dtype=np.int64)
        for i, v in enumerate(values):
            key = (v if type(v) is str and v else
                   categorical_key(v) if v is not None and not isinstance(v, dict | list) else None)
            if key is not None:
                out[i] = get(key, unseen)
        return out


    def binned_rows(self, values: Column, binned: Binned) -> np.ndarray | None:
        """:meth:`rows` from the bins a window found for the same values
        (:func:`~stream_monitor.windows.accumulators.bin_index`), or ``None`` when
        that binning is not this input's."""
        binning, bins = binned
        if self.edges is not None:
            if binning.edges is None or not isinstance(values, np.ndarray) or not _same(binning.edges, self.edges):
                return None
            return np.where(np.isfinite(values), bins, self.table.shape[0] - 1)  # not finite: not observed
        if binning.edges is not None or len(binning.index) != self.unseen_row or binning.index != self.index:
            return None
        return bins  # all non-empty strings (bin_index), unlisted ones in the unseen row


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a is b or (a.shape == b.shape and bool((a == b).all()))


def _floats(values: Column, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Finite floats and a mask of which values were numbers (bools are not)."""
    if isinstance(values, np.ndarray):  # a float array already (window.float_arrays)
        ok = np.isfinite(values)
        return np.where(ok, values, 0.0), ok
    if len(values) == n and values and set(map(type, values)) == {float}:
        x = np.asarray(values, dtype=float)
        ok = np.isfinite(x)
        return np.where(ok, x, 0.0), ok
    x = np.zeros(n)
    ok = np.zeros(n, dtype=bool)
    for i, v in enumerate(values):
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            x[i] = v
            ok[i] = True
    return x, ok


# (input or None for a pair, feature, signal, values, probs, k floor, reference rows behind it, partner)
_Signal = tuple[int | None, str, str, np.ndarray, np.ndarray, float, int, str | None]
# (name, bin edges, category index, bins, z per bin)
_Slot = tuple[str, np.ndarray | None, dict[str, int] | None, int, np.ndarray | None]


class _Tables:
    """The per-feature signals of a layout as :meth:`CusumLayout.build` collects them."""

    def __init__(self, variance: bool) -> None:
        self.variance = variance
        self.signals: list[_Signal] = []
        self.slots: list[_Slot] = []
        self.nums: list[_Numeric] = []
        self.num_probs: list[np.ndarray] = []
        self.num_slot: list[int] = []
        self.num_rows: list[int] = []

    def add_numeric(self, name: str, prof: NumericProfile) -> None:
        got = _numeric_tables(name, prof)
        if got is None:
            return
        t, pr = got
        slot = len(self.slots)
        self.slots.append((name, t.edges, None, len(pr), np.append(t.z, 0.0)))
        if name != PREDICTION:
            self.nums.append(t)
            self.num_probs.append(pr)
            self.num_slot.append(slot)
            self.num_rows.append(prof.n)
        self.signals.append((slot, name, "mean", t.z, pr, 0.0, prof.n, None))
        if self.variance:
            self.signals.append((slot, name, "variance", t.v, pr, 0.0, prof.n, None))

    def add_categorical(self, name: str, prof: CategoricalProfile) -> None:
        got = _categorical_tables(prof)
        if got is None:
            return
        values, pr = got
        slot = len(self.slots)
        self.slots.append((name, None, {cat: i for i, cat in enumerate(prof.categories)}, len(values), None))
        self.signals.append((slot, name, "surprisal", values, pr, 0.0, prof.n, None))
