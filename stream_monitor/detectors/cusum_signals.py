"""Per-event signals for the CUSUM bank, compiled from a reference profile.

:class:`CusumLayout` compiles the reference profiles into signals, streams and
thresholds, and turns a batch of events into the fixed-point increments of
every stream. It builds on:

* :mod:`stream_monitor.detectors.cusum_inputs`: the signals of one input (a
  feature or the prediction) and their lookup per event;
* :mod:`stream_monitor.detectors.cusum_pairs`: the signals of two numeric
  features (correlation and residual);
* :mod:`stream_monitor.detectors.cusum_streams`: each signal's streams, their
  thresholds (the false-alarm bound) and increment tables.

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

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stream_monitor.detectors.cusum import SCALE, Stream
from stream_monitor.detectors.cusum_inputs import _Input, _Tables
from stream_monitor.detectors.cusum_pairs import _Pair, _pairs, _Residual, _residuals
from stream_monitor.detectors.cusum_streams import _inputs, _streams
from stream_monitor.detectors.cusum_thresholds import DEFAULT_HEAD_START, derived_head_start
from stream_monitor.windows.accumulators import Binned
from stream_monitor.windows.columns import Column
from stream_monitor.windows.profile import PREDICTION, CategoricalProfile, NumericProfile

__all__ = ["CusumLayout"]


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
        (:func:`~stream_monitor.detectors.cusum_thresholds.derived_head_start`); without
        one it is :data:`~stream_monitor.detectors.cusum_thresholds.DEFAULT_HEAD_START`.
        """
        t = _tables(numeric, categorical, prediction, variance)
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
        self, columns: Mapping[str, Column], prediction: Column | None, n: int,
        bins: Mapping[str, Binned] | None = None,
    ) -> np.ndarray:
        """The fixed-point increment of every stream for ``n`` events: an (n, streams) int64 array.

        ``columns`` holds each feature's value per event (``None``: not
        observed, e.g. a prediction event without features); ``prediction`` the
        prediction's value per event (``None`` for feature events). A value that
        is missing or of the wrong type adds nothing: data quality has its own
        tests. ``bins`` may hold the bins a window found for some of these
        columns (``__prediction__`` for ``prediction``), used when binned alike.
        """
        out = np.zeros((len(self.streams), n), dtype=np.int64)  # per stream: its increments in event order
        rows: list[np.ndarray] = []
        empty: Sequence[Any] = [None] * n
        for inp in self.inputs:
            values = prediction if inp.name == PREDICTION else columns.get(inp.name)
            binned = bins.get(inp.name) if bins is not None and values is not None else None
            r = inp.binned_rows(values, binned) if binned is not None and values is not None else None
            if r is None:
                r = inp.rows(values if values is not None else empty, n)
            rows.append(r)
            if inp.cols.size:
                _gather(inp.table, r, out, inp.cols)
        scores: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # numeric input -> its score per event, observed
        two: tuple[_Pair | _Residual, ...] = (*self.pairs, *self.residuals)
        for p in two:  # two-feature signals: both must be observed
            za, ok_a = _scores(self.inputs, rows, p.a, scores)
            zb, ok_b = _scores(self.inputs, rows, p.b, scores)
            y = p.direction[:, None] * p.signal(za, zb)  # (streams of the pair, events)
            y -= p.k[:, None]
            y *= SCALE
            np.rint(y, out=y)
            unobserved = ~(ok_a & ok_b)
            if unobserved.any():
                y[:, unobserved] = 0.0
            _put(out, p.cols, y)
        return out.T  # (events, streams), each stream's column contiguous: the scan sums by column


def _scores(
    inputs: Sequence[_Input], rows: Sequence[np.ndarray], i: int, done: dict[int, tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """Numeric input ``i``'s standardised score per event (0 when not observed) and whether it was observed."""
    got = done.get(i)
    if got is None:
        inp, r = inputs[i], rows[i]
        assert inp.z is not None
        got = done[i] = inp.z[r], r < inp.table.shape[0] - 1
    return got


def _run(cols: np.ndarray) -> slice | None:
    """``cols`` as a slice when they are consecutive streams in order."""
    lo = int(cols[0])
    return slice(lo, lo + cols.size) if cols.tolist() == list(range(lo, lo + cols.size)) else None


def _gather(table: np.ndarray, rows: np.ndarray, out: np.ndarray, cols: np.ndarray) -> None:
    """``out[cols] = table[rows].T``: each stream's increments per event, from the table rows."""
    run = _run(cols)
    if run is None:
        out[cols] = table[rows].T
    else:  # straight into place ("clip" lets take write there; every row is in the table)
        np.take(table.T, rows, axis=1, out=out[run], mode="clip")


def _put(out: np.ndarray, cols: np.ndarray, values: np.ndarray) -> None:
    """``out[cols] = values``, cast to integers."""
    run = _run(cols)
    out[cols if run is None else run] = values


def _tables(
    numeric: Mapping[str, NumericProfile],
    categorical: Mapping[str, CategoricalProfile],
    prediction: NumericProfile | CategoricalProfile | None,
    variance: bool,
) -> _Tables:
    """The single-input signals of every feature and of the prediction."""
    t = _Tables(variance)
    for name, prof in numeric.items():
        t.add_numeric(name, prof)
    for name, cat in categorical.items():
        t.add_categorical(name, cat)
    if isinstance(prediction, NumericProfile):
        t.add_numeric(PREDICTION, prediction)
    elif isinstance(prediction, CategoricalProfile):
        t.add_categorical(PREDICTION, prediction)
    return t
