"""Per-event signals for the CUSUM bank, compiled from a reference profile.

Signals
    Each event becomes a few numbers whose distribution under the reference is
    known exactly, because they are functions of the reference *bins*:

    * numeric feature (and a numeric prediction): the normal score of the
      value's reference bin (``mean``) and its square (``variance``),
      standardised to mean 0 and variance 1 under the reference;
    * categorical feature (and predicted class): the surprisal ``-log p`` of the
      category under the reference (unseen categories: half a count),
      standardised and capped at 4 standard deviations, so that a single novel
      value cannot alarm but a run of them does;
    * pairs of numeric features (``correlation``): the product of their normal
      scores, centred and scaled with a Gaussian copula fitted to the reference
      sample, so correlation changes that no marginal shows are seen too;
    * correlated pairs of numeric features (``mean given b``): the residual
      ``z_a - beta z_b`` of one feature's normal score given the other's. When
      ``a`` moves and ``b`` does not, the residual moves by as much as ``z_a``
      but varies less (``1 - rho^2`` of the variance), so the shift is seen
      sooner: ``1 / sqrt(1 - rho^2)`` times as many standard deviations (1.25x
      at ``rho = 0.6``). Slow ramps gain most, since a CUSUM's delay on a ramp
      grows with the inverse of the slope.

The false-alarm bound and the reference as an estimate
    The thresholds come from :func:`stream_monitor.detectors.cusum.cusum_threshold`
    on each signal's exact reference distribution. The reference is
    itself an estimate: its mean of each signal is off from the truth by a
    normal error of one standard error, ``1 / sqrt(rows)``. Each stream's
    ``h`` keeps its alarm rate *averaged over that error* within its share of
    the budget, and keeps the stream within the *whole* budget on its own if
    the mean is off by four standard errors towards the alarm (``BIAS_SE``). A stream whose ``theta``
    vanishes within four standard errors is dropped: a reference learned from
    1,000 rows cannot tell shifts of ``k = 0.1`` from its own noise. (Solving
    ``h`` at the four-standard-error shift itself, as earlier versions did,
    gives a bound that holds unless some signal's reference mean is off by more
    than that, at the price of an ``h`` about a third higher for ``k = 0.1`` at
    20,000 rows, and a slower decision on slow drift.)
    Only the copula of the correlation signals is an assumption; they come from
    the reference sample (1,000 rows by default), so their ``k`` is at least
    seven standard errors of it, and
    pairs are never picked by their largest sample correlations (that would
    pick the estimates that are most wrong).
    The residuals' mean is 0 exactly (both scores are centred on the bins);
    their variance ``1 - 2 beta rho + beta^2`` depends on the true ``rho``,
    known from the profile's correlation matrix (20,000 rows) only up to a
    standard error ``(1 - rho^2) / sqrt(rows)``. ``beta`` is the correlation
    shrunk by four standard errors towards 0, the worst case for the variance,
    and the residual is scaled for that worst case, so a true ``rho`` anywhere
    within four standard errors leaves the residual's variance at or below 1.
    Only pairs with ``|beta| >= 0.3`` get residuals (below, the gain is under
    5% and the streams would only raise ``M``).


Examples
--------
>>> import numpy as np
>>> from stream_monitor.detectors.cusum import CusumBank
>>> from stream_monitor.windows.profile import NumericProfile
>>> rng = np.random.default_rng(0)
>>> ref = np.sort(rng.normal(size=20_000))
>>> edges = tuple(float(e) for e in np.quantile(ref, np.linspace(0, 1, 51)[1:-1]))
>>> prof = NumericProfile(edges=edges, counts=(400,) * 50, minimum=float(ref[0]),
...                       maximum=float(ref[-1]), mean=0.0, std=1.0)
>>> layout = CusumLayout.build({"x": prof}, {}, None, None, ks=(0.1, 0.5), rate_per_event=1e-5, seed=0)
>>> bank = CusumBank.empty(layout)
>>> before = rng.normal(size=5000)
>>> bank.scan(layout.increments({"x": before.tolist()}, None, 5000), stop_on_alarm=True) is None
True
>>> after = rng.normal(1.0, 1.0, size=500)
>>> first = bank.scan(layout.increments({"x": after.tolist()}, None, 500), stop_on_alarm=True)
>>> first is not None and first < 50
True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from stream_monitor.detectors.cusum import DEFAULT_HEAD_START, SCALE, Stream, cusum_threshold, derived_head_start
from stream_monitor.windows.profile import (
    MULTIVARIATE,
    PREDICTION,
    CategoricalProfile,
    NumericProfile,
    categorical_key,
)
from stream_monitor.windows.window import Column

__all__ = ["CusumLayout"]

BIAS_SE = 4.0  # worst case of the reference's error in a signal's mean, in standard errors (see the module doc)
PAIR_K_SE = 7.0  # correlation pairs (from the small sample) use k of at least this many standard errors
RESIDUAL_MIN_BETA = 0.3  # residual signals only for pairs this correlated (after shrinking)
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
            return np.fromiter((get(v, unseen) for v in values), dtype=np.int64, count=n)
        out = np.full(n, missing, dtype=np.int64)
        for i, v in enumerate(values):
            key = (v if type(v) is str and v else
                   categorical_key(v) if v is not None and not isinstance(v, dict | list) else None)
            if key is not None:
                out[i] = get(key, unseen)
        return out


@dataclass(frozen=True, slots=True)
class _Pair:
    a: int  # indices into CusumLayout.inputs (numeric inputs)
    b: int
    centre: float
    scale: float
    cols: np.ndarray
    direction: np.ndarray
    k: np.ndarray

    def signal(self, za: np.ndarray, zb: np.ndarray) -> np.ndarray:
        """The standardised product of the two scores."""
        product: np.ndarray = (za * zb - self.centre) / self.scale
        return product


@dataclass(frozen=True, slots=True)
class _Residual:
    a: int  # indices into CusumLayout.inputs (numeric inputs): the signal is z_a - beta z_b
    b: int
    beta: float
    scale: float
    cols: np.ndarray  # this residual's streams and their increments per unit of the residual
    direction: np.ndarray
    k: np.ndarray

    def signal(self, za: np.ndarray, zb: np.ndarray) -> np.ndarray:
        """The standardised residual of the first score given the second."""
        residual: np.ndarray = (za - self.beta * zb) / self.scale
        return residual


@dataclass(frozen=True, slots=True)
class CusumLayout:
    """Signals, streams and thresholds for one reference: a pure function of it.

    Build with :meth:`build`; :meth:`increments` turns a batch of events into the
    fixed-point increments of every stream.
    """

    streams: tuple[Stream, ...]
    inputs: tuple[_Input, ...]
    pairs: tuple[_Pair, ...]
    thresholds: np.ndarray  # stream -> h in fixed point (int64)
    residuals: tuple[_Residual, ...] = ()
    head_start: float = DEFAULT_HEAD_START  # where an alarmed stream restarts, a share of its threshold

    @classmethod
    def build(
        cls,
        numeric: Mapping[str, NumericProfile],
        categorical: Mapping[str, CategoricalProfile],
        prediction: NumericProfile | CategoricalProfile | None,
        sample: tuple[Sequence[str], Sequence[Sequence[float]]] | None,
        *,
        ks: Sequence[float],
        rate_per_event: float,
        seed: int,
        max_pairs: int = 10,
        variance: bool = True,
        copula_draws: int = 100_000,
        correlation: tuple[Sequence[str], Sequence[Sequence[float]], int] | None = None,
        horizon: int | None = None,
    ) -> CusumLayout:
        """Compile the reference profiles into CUSUM streams.

        ``sample`` is the reference sample (feature names, rows of normal
        scores) for the correlation signals; ``None`` or ``max_pairs=0`` leaves
        them out. At most ``max_pairs`` pairs are watched: those clearly
        correlated in the sample first, then the others in configuration order.
        ``correlation`` (feature names, the correlation matrix of their normal
        scores, the rows behind it) adds residual signals for up to
        ``max_pairs`` correlated pairs (strongest first); ``None`` or
        ``max_pairs=0`` leaves them out. ``horizon`` (the corroboration
        horizon in events) sets the head start
        (:func:`~stream_monitor.detectors.cusum.derived_head_start`); without
        one it is :data:`~stream_monitor.detectors.cusum.DEFAULT_HEAD_START`.
        """
        t = _Tables(variance)
        for name, prof in numeric.items():
            t.add_numeric(name, prof)
        for name, cat in categorical.items():
            t.add_categorical(name, cat)
        if isinstance(prediction, NumericProfile):
            t.add_numeric(PREDICTION, prediction)
        elif isinstance(prediction, CategoricalProfile):
            t.add_categorical(PREDICTION, prediction)
        pair_specs: list[tuple[int, int, float, float]] = []
        if sample is not None and max_pairs > 0 and len(sample[1]) >= 20:
            pair_specs, pair_signals = _pairs(t.nums, t.num_probs, sample, max_pairs, seed, copula_draws)
            t.signals.extend((None, *x, None) for x in pair_signals)
        residual_specs: list[tuple[int, int, float, float]] = []
        if correlation is not None and max_pairs > 0:
            residual_specs, residual_signals = _residuals(
                t.nums, t.num_probs, t.num_rows, correlation, max_pairs, seed, copula_draws)
            t.signals.extend((None, *x) for x in residual_signals)
        n_streams = sum(2 * (len(ks) if x[-1] is None else 1) for x in t.signals)
        log_m = math.log(max(n_streams, 1) / rate_per_event)
        streams, hh, per_slot, per_pair = _streams(t.signals, ks, log_m, math.log(1 / rate_per_event))
        inputs, where = _inputs(t.slots, per_slot)

        def columns(i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            got_p = per_pair.get(i, [])
            return (np.asarray([x[0] for x in got_p], dtype=np.int64),
                    np.asarray([x[1] for x in got_p], dtype=np.int64),
                    np.asarray([x[2] for x in got_p], dtype=float))

        num_slot = t.num_slot
        pairs = [_Pair(where[num_slot[a]], where[num_slot[b]], centre, scale, *columns(i))
                 for i, (a, b, centre, scale) in enumerate(pair_specs) if per_pair.get(i)]
        residuals = [_Residual(where[num_slot[a]], where[num_slot[b]], beta, scale, *columns(len(pair_specs) + i))
                     for i, (a, b, beta, scale) in enumerate(residual_specs) if per_pair.get(len(pair_specs) + i)]
        head = DEFAULT_HEAD_START if horizon is None else derived_head_start(log_m, rate_per_event, horizon)
        return cls(tuple(streams), tuple(inputs), tuple(pairs), np.asarray(hh, dtype=np.int64), tuple(residuals),
                   head)

    @property
    def input_names(self) -> tuple[str, ...]:
        """The features this layout reads (the prediction is passed on its own)."""
        return tuple(i.name for i in self.inputs if i.name != PREDICTION)

    def increments(
        self, columns: Mapping[str, Column], prediction: Sequence[Any] | None, n: int
    ) -> np.ndarray:
        """The fixed-point increment of every stream for ``n`` events: an (n, streams) int64 array.

        ``columns`` holds each feature's value per event (``None``: not
        observed, e.g. a prediction event without features); ``prediction`` the
        prediction's value per event (``None`` for feature events). A value that
        is missing or of the wrong type adds nothing: data quality has its own
        tests.
        """
        out = np.zeros((n, len(self.streams)), dtype=np.int64, order="F")  # written and summed by column
        rows: list[np.ndarray] = []
        empty: Sequence[Any] = [None] * n
        for inp in self.inputs:
            values = prediction if inp.name == PREDICTION else columns.get(inp.name)
            r = inp.rows(values if values is not None else empty, n)
            rows.append(r)
            if inp.cols.size:
                out[:, inp.cols] = inp.table[r]
        two: tuple[_Pair | _Residual, ...] = (*self.pairs, *self.residuals)
        for p in two:  # two-feature signals: both must be observed
            za, zb = self.inputs[p.a], self.inputs[p.b]
            assert za.z is not None and zb.z is not None
            ra, rb = rows[p.a], rows[p.b]
            ok = (ra < za.table.shape[0] - 1) & (rb < zb.table.shape[0] - 1)
            x = p.signal(za.z[ra], zb.z[rb])
            y = np.rint((x[:, None] * p.direction - p.k) * SCALE).astype(np.int64)
            out[:, p.cols] = np.where(ok[:, None], y, 0)
        return out


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


def _bin_scores(nums: Sequence[_Numeric], probs: Sequence[np.ndarray]) -> Any:
    """``f(u, i)``: the standardised score of numeric input ``i``'s bin at reference quantile ``u``."""
    cums = [np.concatenate([[0.0], np.cumsum(p)]) for p in probs]

    def bin_scores(u: np.ndarray, i: int) -> np.ndarray:
        b = np.clip(np.searchsorted(cums[i], u, side="right") - 1, 0, len(probs[i]) - 1)
        return nums[i].z[b]

    return bin_scores


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


def _streams(signals: Sequence[_Signal], ks: Sequence[float], log_m: float, log_r: float) -> tuple[
        list[Stream], list[int], dict[int, list[tuple[int, np.ndarray]]], dict[int, list[tuple[int, int, float]]]]:
    """Every stream with a threshold: the streams, their fixed-point thresholds, the increments
    per bin of each input slot's streams, and the streams of each pair (then residual)."""
    streams: list[Stream] = []
    hh: list[int] = []
    per_slot: dict[int, list[tuple[int, np.ndarray]]] = {}  # slot -> (stream, increments per bin)
    per_pair: dict[int, list[tuple[int, int, float]]] = {}  # pair, then residual -> (stream, direction, k)
    pair_no = 0
    for slot, feature, signal, values, probs, k_floor, rows, partner in signals:
        se = 1 / math.sqrt(max(rows, 1))
        for k in (ks if partner is None else (min(ks),)):  # residuals: the smallest k only (see _residuals)
            k_eff = max(float(k), k_floor)
            for d in (1, -1):
                h = cusum_threshold(d * values, probs, k_eff, log_m, se, worst_se=BIAS_SE, log_per_rate=log_r)
                if h is None:
                    continue
                if slot is not None:
                    per_slot.setdefault(slot, []).append(
                        (len(streams), np.rint((d * values - k_eff) * SCALE).astype(np.int64)))
                else:
                    per_pair.setdefault(pair_no, []).append((len(streams), d, k_eff))
                streams.append(Stream(feature, signal, d, k_eff, h, partner))
                hh.append(math.ceil(h * SCALE))
        pair_no += slot is None
    return streams, hh, per_slot, per_pair


def _inputs(slots: Sequence[_Slot], per_slot: Mapping[int, list[tuple[int, np.ndarray]]]) -> tuple[
        list[_Input], dict[int, int]]:
    """The input of each slot with streams' increment table, and each slot's input index."""
    inputs: list[_Input] = []
    where: dict[int, int] = {}
    for slot, (name, edges, index, n_rows, z) in enumerate(slots):
        got_streams = per_slot.get(slot, [])
        table = np.zeros((n_rows + 1, len(got_streams)), dtype=np.int64)
        for j, (_, inc) in enumerate(got_streams):
            table[:n_rows, j] = inc
        where[slot] = len(inputs)
        inputs.append(_Input(name, edges, index, table, np.asarray([i for i, _ in got_streams], dtype=np.int64), z))
    return inputs, where


@functools.lru_cache(maxsize=4)
def _uniform(draws: int) -> np.ndarray:
    """Equal weights of ``draws`` simulated values: one read-only array that every simulated
    signal shares (a copy each, 0.8 MB at 100,000 draws, made most of a model's peak memory
    at its start)."""
    weights = np.full(draws, 1.0 / draws)
    weights.flags.writeable = False
    return weights


def _pairs(
    nums: Sequence[_Numeric],
    probs: Sequence[np.ndarray],
    sample: tuple[Sequence[str], Sequence[Sequence[float]]],
    max_pairs: int,
    seed: int,
    draws: int,
) -> tuple[list[tuple[int, int, float, float]], list[tuple[str, str, np.ndarray, np.ndarray, float, int]]]:
    names, rows = sample
    x = np.asarray(rows, dtype=float)
    where = {t.name: i for i, t in enumerate(nums)}
    cols = [(j, where[f]) for j, f in enumerate(names) if f in where]
    if len(cols) < 2:
        return [], []
    bin_scores = _bin_scores(nums, probs)

    scores = {i: bin_scores(special.ndtr(x[:, j]), i) for j, i in cols}
    rho = {}
    for a in range(len(cols)):
        for b in range(a + 1, len(cols)):
            ia, ib = cols[a][1], cols[b][1]
            sa, sb = scores[ia], scores[ib]
            r = float(np.corrcoef(sa, sb)[0, 1]) if sa.std() > 0 and sb.std() > 0 else 0.0
            rho[(ia, ib)] = 0.0 if math.isnan(r) else r
    # Pairs clearly correlated in the sample first (strongest first), then the others in
    # configuration order. Never "the largest sample correlations" among independent pairs:
    # picking by a noisy estimate selects the estimates that are most wrong.
    k_floor = PAIR_K_SE / math.sqrt(len(x))
    strong = sorted((p for p in rho if abs(rho[p]) >= 4.0 / math.sqrt(len(x))), key=lambda p: (-abs(rho[p]), p))
    chosen = (strong + [p for p in rho if p not in strong])[:max_pairs]
    rng = np.random.default_rng([seed, 0x435553])
    pairs, signals = [], []
    for ia, ib in sorted(chosen):
        r = max(min(rho[(ia, ib)], 0.999), -0.999)
        g1 = rng.standard_normal(draws)
        g2 = r * g1 + math.sqrt(1 - r * r) * rng.standard_normal(draws)
        prod = bin_scores(special.ndtr(g1), ia) * bin_scores(special.ndtr(g2), ib)
        centre, scale = float(prod.mean()), float(prod.std())
        if scale <= 0:
            continue
        pairs.append((ia, ib, centre, scale))
        signals.append((MULTIVARIATE, f"correlation {nums[ia].name},{nums[ib].name}",
                        (prod - centre) / scale, _uniform(draws), k_floor, len(x)))
    return pairs, signals


def _residuals(
    nums: Sequence[_Numeric],
    probs: Sequence[np.ndarray],
    n_ref: Sequence[int],
    correlation: tuple[Sequence[str], Sequence[Sequence[float]], int],
    max_pairs: int,
    seed: int,
    draws: int,
) -> tuple[list[tuple[int, int, float, float]], list[tuple[str, str, np.ndarray, np.ndarray, float, int, str]]]:
    """Residual signals ``z_a - beta z_b`` for the most correlated pairs (both ways round).

    The scale and the distribution for the threshold come from a Gaussian
    copula at ``beta`` (the correlation shrunk by ``BIAS_SE`` standard errors)
    through the bins of both features, so the binning's own effect on the
    variance is in them. Residuals run at the smallest ``k`` only: they are
    there for small, slow shifts (a large shift shows in the marginals at once),
    and a large ``k`` on a residual would also fire when the correlation
    changes, which the correlation signals already watch (and would blame a
    feature for it).
    """
    names, matrix, n_rows = correlation
    c = np.asarray(matrix, dtype=float)
    where = {t.name: i for i, t in enumerate(nums)}
    cols = [(j, where[f]) for j, f in enumerate(names) if f in where]
    if len(cols) < 2 or n_rows < 20 or c.shape != (len(names), len(names)):
        return [], []
    bin_scores = _bin_scores(nums, probs)

    shrunk = {}
    for x in range(len(cols)):
        for y in range(x + 1, len(cols)):
            r = float(c[cols[x][0], cols[y][0]])
            if not math.isfinite(r):
                continue
            r = max(min(r, 0.999), -0.999)
            beta = math.copysign(max(abs(r) - BIAS_SE * (1 - r * r) / math.sqrt(n_rows), 0.0), r)
            if abs(beta) >= RESIDUAL_MIN_BETA:
                shrunk[(cols[x][1], cols[y][1])] = beta
    chosen = sorted(shrunk, key=lambda p: (-abs(shrunk[p]), p))[:max_pairs]
    rng = np.random.default_rng([seed, 0x524553])
    specs, signals = [], []
    for ia, ib in sorted(chosen):
        beta = shrunk[(ia, ib)]
        g1 = rng.standard_normal(draws)
        g2 = beta * g1 + math.sqrt(1 - beta * beta) * rng.standard_normal(draws)
        sa, sb = bin_scores(special.ndtr(g1), ia), bin_scores(special.ndtr(g2), ib)
        rows = min(n_ref[ia], n_ref[ib])  # the residual's mean is off by scale / sqrt(rows): 1 / sqrt(rows) scaled
        for (p, q, zp, zq) in ((ia, ib, sa, sb), (ib, ia, sb, sa)):
            resid = zp - beta * zq
            scale = float(resid.std())
            if scale <= 0:
                continue
            specs.append((p, q, beta, scale))
            signals.append((nums[p].name, f"mean given {nums[q].name}", resid / scale,
                            _uniform(draws), 0.0, rows, nums[q].name))
    return specs, signals
