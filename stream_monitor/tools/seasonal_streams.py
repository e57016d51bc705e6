"""Traffic with a daily cycle: reference rows and prediction events, seeded.

Every feature follows the time of day (phase ``theta = 2 pi t / day``):

* ``load``: normal, mean ``10 + 4 a sin(theta)``, standard deviation ``2 (1 + 0.4 a cos(theta))``;
* ``latency``: log-normal, log-mean ``3 + 0.5 a cos(theta)``;
* ``basket``: Poisson counts (ties), mean ``3 + 2 a (1 + sin(theta))``;
* ``noise``: standard normal, no cycle (a control);
* ``channel``: categorical ``web``/``app``/``store``/``phone``, shares a softmax
  of ``(1.2 a sin(theta), 1.2 a cos(theta), -a sin(theta), 0)``;
* ``score``: a logistic function of the features; ``prediction`` its class.

``a`` is the amplitude (1 by default). Events arrive as a Poisson process whose
rate also follows the day (``rate (1 + 0.5 sin(theta))``), at ``rate`` events
per second on average. A :class:`CycleChange` from a given time on shifts the
cycle's phase (``shift_hours``) or multiplies its amplitude (``amplitude``):
the same distributions as before, at the wrong time of day, or stronger.

Examples
--------
>>> rows = list(rows_between(0.0, 3_600.0, seed=1, rate=0.1))
>>> sorted(rows[0])
['basket', 'channel', 'latency', 'load', 'noise', 'prediction', 'score', 'timestamp']
>>> list(rows_between(0.0, 3_600.0, seed=1, rate=0.1)) == rows
True
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CHANNELS", "DAY", "CycleChange", "model_config", "prediction_events", "rows_between"]

DAY = 86_400.0
CHANNELS = ("web", "app", "store", "phone")
_CHUNK = 4096


@dataclass(frozen=True)
class CycleChange:
    """From ``at`` (Unix seconds) on, the cycle is shifted by ``shift_hours`` and scaled by ``amplitude``."""

    at: float
    shift_hours: float = 0.0
    amplitude: float = 1.0


def model_config(model_id: str = "seasonal-model", **extra: Any) -> dict[str, Any]:
    """A model config for this traffic (``extra`` keys are added, e.g. ``seasonality``)."""
    return {
        "model_id": model_id,
        "features": [{"name": "load"}, {"name": "latency"}, {"name": "basket"}, {"name": "noise"},
                     {"name": "channel", "type": "categorical"}],
        "prediction": {"type": "score"},
        "reference": {"path": "reference.jsonl"},
        "window": {"events": 1000},
        **extra,
    }


def _times(start: float, end: float, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Arrival times of a Poisson process of rate ``rate (1 + 0.5 sin(theta))`` (by thinning)."""
    out: list[np.ndarray] = []
    t = start
    top = 1.5 * rate
    while t < end:
        gaps = rng.exponential(1.0 / top, _CHUNK)
        ts = t + np.cumsum(gaps)
        t = float(ts[-1])
        ts = ts[ts < end]
        keep = rng.random(ts.size) < (1 + 0.5 * np.sin(2 * math.pi * ts / DAY)) / 1.5
        out.append(ts[keep])
    return np.concatenate(out) if out else np.zeros(0)


def _draw(ts: np.ndarray, rng: np.random.Generator, change: CycleChange | None) -> dict[str, np.ndarray]:
    amp = np.ones(ts.size)
    shifted = ts.copy()
    if change is not None:
        after = ts >= change.at
        amp[after] = change.amplitude
        shifted[after] = ts[after] - change.shift_hours * 3600.0
    theta = 2 * math.pi * shifted / DAY
    s, c = np.sin(theta), np.cos(theta)
    n = ts.size
    load = 10 + 4 * amp * s + 2 * (1 + 0.4 * amp * c) * rng.standard_normal(n)
    latency = np.exp(3 + 0.5 * amp * c + 0.5 * rng.standard_normal(n))
    basket = rng.poisson(np.maximum(3 + 2 * amp * (1 + s), 0.1)).astype(float)
    noise = rng.standard_normal(n)
    logits = np.stack([1.2 * amp * s, 1.2 * amp * c, -amp * s, np.zeros(n)], axis=1)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    channel = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    z = 0.3 * (load - 10) / 2 - 0.5 * (np.log(latency) - 3) + 0.2 * (basket - 4) + 0.4 * (channel == 1)
    score = 1 / (1 + np.exp(-z))
    return {"load": load, "latency": latency, "basket": basket, "noise": noise, "channel": channel,
            "score": score}


def rows_between(start: float, end: float, *, seed: int, rate: float = 0.5,
                 change: CycleChange | None = None) -> Iterator[dict[str, Any]]:
    """Reference rows (flat dicts with ``timestamp``) of the traffic between two times."""
    rng = np.random.default_rng([seed, 0x5EA5])
    ts = _times(start, end, rate, rng)
    for lo in range(0, ts.size, 50_000):
        part = ts[lo:lo + 50_000]
        d = _draw(part, rng, change)
        for i in range(part.size):
            score = round(float(d["score"][i]), 6)
            yield {"timestamp": float(part[i]), "load": round(float(d["load"][i]), 4),
                   "latency": round(float(d["latency"][i]), 3), "basket": float(d["basket"][i]),
                   "noise": round(float(d["noise"][i]), 4), "channel": CHANNELS[int(d["channel"][i])],
                   "score": score, "prediction": int(score >= 0.5)}


def prediction_events(start: float, end: float, *, seed: int, rate: float = 0.5, change: CycleChange | None = None,
                      model_id: str = "seasonal-model", version: str = "v1") -> Iterator[dict[str, Any]]:
    """Prediction events (dicts ready for JSON or ``PredictionEvent``) between two times."""
    for i, row in enumerate(rows_between(start, end, seed=seed, rate=rate, change=change)):
        yield {"event_id": f"{model_id}-{seed}-{i}", "model_id": model_id, "model_version": version,
               "timestamp": row["timestamp"],
               "features": {k: row[k] for k in ("load", "latency", "basket", "noise", "channel")},
               "prediction": row["prediction"], "score": row["score"]}
