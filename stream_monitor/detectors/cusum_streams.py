"""From signals to CUSUM streams: each stream's threshold and its increment per reference bin.

The false-alarm bound and the reference as an estimate
    The thresholds come from :func:`stream_monitor.detectors.cusum_thresholds.cusum_threshold`
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

Each signal gets an upward and a downward stream for every reference value
``k`` (a residual: for the smallest ``k`` only, see
:func:`stream_monitor.detectors.cusum_pairs._residuals`); a stream without a
threshold is left out. :func:`_streams` solves the thresholds (in fixed point,
as the bank counts) and each stream's increment per reference bin;
:func:`_inputs` lays the streams of each input out as one table, so that a
batch of events costs one lookup per event. Streams of two features have no
table: their signal is computed per event from both scores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from stream_monitor.detectors.cusum import SCALE, Stream
from stream_monitor.detectors.cusum_inputs import _Input, _Signal, _Slot
from stream_monitor.detectors.cusum_thresholds import cusum_threshold

__all__ = ["BIAS_SE", "_inputs", "_streams"]

BIAS_SE = 4.0  # worst case of the reference's error in a signal's mean, in standard errors (see the module doc)


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
