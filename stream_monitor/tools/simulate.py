"""Deterministic synthetic traffic for the demo model, tests and benchmarks.

The demo model ``fraud-detector`` scores card payments from five features.
A :class:`Scenario` describes a stream: stationary, or with a change at
``change_at`` (abrupt, gradual, variance, new category, correlation change).
Same seed, same stream, event for event.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "DEMO_FEATURES",
    "DEMO_MODEL",
    "SCENARIOS",
    "Scenario",
    "demo_model_config",
    "generate",
    "reference_rows",
    "stamped_from",
    "to_json",
]

DEMO_MODEL = "fraud-detector"
DEMO_FEATURES = {
    "amount": "numeric",
    "age": "numeric",
    "account_age_days": "numeric",
    "merchant_category": "categorical",
    "country": "categorical",
}
_MERCHANTS = ["grocery", "fuel", "travel", "electronics", "restaurants", "online", "pharmacy", "other"]
_MERCHANT_P = np.array([0.25, 0.12, 0.08, 0.07, 0.18, 0.2, 0.05, 0.05])
_COUNTRIES = ["DE", "FR", "NL", "ES", "IT", "PL"]
_COUNTRY_P = np.array([0.3, 0.2, 0.15, 0.15, 0.12, 0.08])
_REGIONS = {"DE": "north", "NL": "north", "PL": "north", "FR": "south", "ES": "south", "IT": "south"}

Kind = Literal["stationary", "abrupt", "gradual", "variance", "new_category", "correlation"]
SCENARIOS: tuple[str, ...] = ("stationary", "abrupt", "gradual", "variance", "new_category", "correlation")


@dataclass(frozen=True)
class Scenario:
    """A labelled stream. ``change_at`` is the index of the first changed event;
    ``gradual_over`` is how many events a gradual change takes to complete."""

    kind: Kind = "stationary"
    change_at: int | None = None
    gradual_over: int = 5000
    seed: int = 7
    model_id: str = DEMO_MODEL
    model_version: str = "v1"
    start_time: float = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    events_per_second: float = 100.0

    def changed_features(self) -> tuple[str, ...]:
        return {
            "stationary": (),
            "abrupt": ("amount", "country"),
            "gradual": ("amount",),
            "variance": ("age",),
            "new_category": ("merchant_category",),
            "correlation": (),
        }[self.kind]


def stamped_from(scenario: Scenario, now: float, rate: float) -> Scenario:
    """``scenario`` with event times that start at ``now`` and advance at ``rate`` events per
    second (the rate it is produced at; 0, as fast as possible, keeps its own spacing): a
    live stream, whose processing lag is the consumer's, not the age of a fixed date."""
    return dataclasses.replace(scenario, start_time=now, events_per_second=rate or scenario.events_per_second)


def _draw(rng: np.random.Generator, n: int, shift: np.ndarray, kind: str) -> dict[str, Any]:
    """Draw n rows; ``shift`` in [0, 1] per row says how far the change has gone."""
    corr = 0.6 if kind != "correlation" else 0.6 - 1.2 * shift  # sign flip, marginals unchanged
    z1 = rng.standard_normal(n)
    z2 = corr * z1 + np.sqrt(np.maximum(1 - corr**2, 0)) * rng.standard_normal(n)
    amount_mu = 3.5 + (0.8 * shift if kind in ("abrupt", "gradual") else 0.0)
    amount = np.round(np.exp(amount_mu + 0.9 * z1), 2)
    age_sd = 12.0 * (1 + (1.2 * shift if kind == "variance" else 0.0))
    age = np.clip(np.round(40 + age_sd * z2), 18, 99)
    account_age = np.round(rng.exponential(700, n))
    merchant_idx = rng.choice(len(_MERCHANTS), n, p=_MERCHANT_P)
    merchants = np.array(_MERCHANTS, dtype=object)[merchant_idx]
    if kind == "new_category":
        novel = rng.random(n) < 0.3 * shift
        merchants = np.where(novel, "crypto", merchants)
    cp = np.tile(_COUNTRY_P, (n, 1))
    if kind == "abrupt":
        target = np.array([0.05, 0.05, 0.1, 0.1, 0.1, 0.6])
        cp = cp * (1 - shift[:, None]) + target * shift[:, None]
    u = rng.random(n)[:, None]
    country_idx = (u > np.cumsum(cp, axis=1)).sum(axis=1).clip(0, len(_COUNTRIES) - 1)
    countries = np.array(_COUNTRIES, dtype=object)[country_idx]
    logit = -4.0 + 0.5 * (np.log(amount) - 3.5) - 0.001 * account_age + 0.8 * (merchants == "online")
    score = 1 / (1 + np.exp(-logit))
    return {
        "amount": amount,
        "age": age,
        "account_age_days": account_age,
        "merchant_category": merchants,
        "country": countries,
        "score": np.round(score, 6),
        "label": rng.random(n) < score,
    }


def _shift(s: Scenario, idx: np.ndarray) -> np.ndarray:
    if s.change_at is None or s.kind == "stationary":
        return np.zeros(idx.size)
    if s.kind == "gradual":
        return np.clip((idx - s.change_at) / s.gradual_over, 0.0, 1.0)
    return (idx >= s.change_at).astype(float)


def generate(scenario: Scenario, n: int, *, start: int = 0, chunk: int = 10_000) -> Iterator[dict[str, Any]]:
    """Yield ``n`` prediction events (dicts ready for JSON) from index ``start``."""
    rng = np.random.default_rng([scenario.seed, start])
    for lo in range(start, start + n, chunk):
        hi = min(lo + chunk, start + n)
        idx = np.arange(lo, hi)
        cols = _draw(rng, hi - lo, _shift(scenario, idx), scenario.kind)
        for j, i in enumerate(idx):
            score = float(cols["score"][j])
            country = str(cols["country"][j])
            yield {
                "event_id": f"{scenario.model_id}-{scenario.seed}-{int(i)}",
                "model_id": scenario.model_id,
                "model_version": scenario.model_version,
                "timestamp": scenario.start_time + int(i) / scenario.events_per_second,
                "features": {
                    "amount": float(cols["amount"][j]),
                    "age": float(cols["age"][j]),
                    "account_age_days": float(cols["account_age_days"][j]),
                    "merchant_category": str(cols["merchant_category"][j]),
                    "country": country,
                },
                "prediction": int(score >= 0.5),
                "score": score,
                "attributes": {"region": _REGIONS[country]},
                "latency_ms": 2.0 + 3.0 * float(abs(np.sin(i))),
            }


def reference_rows(n: int = 20_000, seed: int = 1) -> Iterator[dict[str, Any]]:
    """Rows of the demo model's training data (the reference), as flat dicts."""
    for e in generate(Scenario(seed=seed), n):
        yield {**e["features"], "score": e["score"], "prediction": e["prediction"]}


def demo_model_config(reference_path: str = "reference.csv") -> dict[str, Any]:
    """The demo model's configuration as a plain dict (what config/demo.yaml holds)."""
    return {
        "model_id": DEMO_MODEL,
        "features": [{"name": k, "type": v} for k, v in DEMO_FEATURES.items()],
        "prediction": {"type": "score"},
        "reference": {"path": reference_path},
        "window": {"events": 1000},
        "sensitive_attributes": ["region"],
        "retrain": {"consecutive_windows": 2, "cooldown_seconds": 3600},
    }


def to_json(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()
