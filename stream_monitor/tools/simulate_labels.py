"""Deterministic labelled traffic: predictions with their ground truth, and label events.

The model ``credit-scorer`` scores two standard-normal inputs; its score is
calibrated (the label is drawn with probability ``score``) and it predicts
positive at 0.5, so about half its predictions are positive. Each event
carries the sensitive attribute ``region`` (north or south, independent of the
inputs). A :class:`LabelScenario` may change the stream at ``change_at``:

* ``concept``: for ``south``, labels flip (drawn with ``1 - score``); inputs,
  scores and predictions do not move, so only the label path can see it;
* ``representation``: the share of ``south`` falls from 30% to 5%;
* ``fairness``: ``south`` scores drop so that its positive predictions halve
  (its labels do not change).

:func:`label_events` turns predictions and their truth into label events:
delayed, shuffled, duplicated and missing as asked; :func:`arrival_order`
interleaves both streams as a consumer would see them. Same seed, same stream.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "LABELLED_MODEL",
    "LabelScenario",
    "arrival_order",
    "demo_truth",
    "generate_labelled",
    "label_events",
    "labelled_model_config",
]

LABELLED_MODEL = "credit-scorer"
_FAIRNESS_SHIFT = 0.97  # logit shift that halves P(score >= 0.5) for a N(0, 1.44) logit

Kind = Literal["stationary", "concept", "representation", "fairness"]


@dataclass(frozen=True)
class LabelScenario:
    """A labelled stream; ``change_at`` is the index of the first changed event."""

    kind: Kind = "stationary"
    change_at: int | None = None
    seed: int = 11
    model_id: str = LABELLED_MODEL
    model_version: str = "v1"
    start_time: float = 1_767_225_600.0
    events_per_second: float = 10.0
    south_share: float = 0.3


def generate_labelled(s: LabelScenario, n: int) -> Iterator[tuple[dict[str, Any], bool]]:
    """Yield ``n`` (prediction event, true label) pairs."""
    rng = np.random.default_rng(s.seed)
    idx = np.arange(n)
    changed = (idx >= s.change_at) if (s.change_at is not None and s.kind != "stationary") else np.zeros(n, bool)
    south_p = np.where(changed & (s.kind == "representation"), 0.05, s.south_share)
    south = rng.random(n) < south_p
    x1, x2 = rng.standard_normal(n), rng.standard_normal(n)
    logit = 1.2 * x1 - 0.8 * x2
    truth_score = 1 / (1 + np.exp(-logit))
    if s.kind == "fairness":
        logit = logit - _FAIRNESS_SHIFT * (changed & south)
    score = np.round(1 / (1 + np.exp(-logit)), 6)
    u = rng.random(n)
    flip = changed & south & (s.kind == "concept")
    label = np.where(flip, u < 1 - truth_score, u < truth_score)
    for i in range(n):
        yield (
            {
                "event_id": f"{s.model_id}-{s.seed}-{i}",
                "model_id": s.model_id,
                "model_version": s.model_version,
                "timestamp": s.start_time + i / s.events_per_second,
                "features": {"x1": round(float(x1[i]), 6), "x2": round(float(x2[i]), 6)},
                "prediction": bool(score[i] >= 0.5),
                "score": float(score[i]),
                "attributes": {"region": "south" if south[i] else "north"},
            },
            bool(label[i]),
        )


def demo_truth(events: Sequence[dict[str, Any]], seed: int = 0) -> list[bool]:
    """Labels for events of a calibrated model (e.g. the demo's): Bernoulli(score)."""
    rng = np.random.default_rng(seed)
    u = rng.random(len(events))
    return [bool(x < e["score"]) for x, e in zip(u, events, strict=True)]


def label_events(
    events: Sequence[dict[str, Any]],
    truth: Sequence[bool],
    *,
    coverage: float = 1.0,
    delay_seconds: tuple[float, float] = (60.0, 600.0),
    duplicate_rate: float = 0.0,
    shuffle: bool = True,
    with_version: bool = False,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Label events for a share ``coverage`` of ``events`` (the rest never come), each
    ``delay_seconds`` (uniform) after its prediction; ``duplicate_rate`` of them twice.
    Ordered by label time, or shuffled entirely with ``shuffle``."""
    rng = np.random.default_rng([seed, 99])
    out = []
    for e, y in zip(events, truth, strict=True):
        if rng.random() >= coverage:
            continue
        ts = e["timestamp"] + float(rng.uniform(*delay_seconds))
        lab = {"kind": "label", "event_id": e["event_id"], "model_id": e["model_id"], "timestamp": ts, "label": y}
        if with_version:
            lab["model_version"] = e["model_version"]
        out.append(lab)
        if rng.random() < duplicate_rate:
            out.append({**lab, "timestamp": ts + float(rng.uniform(0, 30))})
    if shuffle:
        order = rng.permutation(len(out))
        return [out[i] for i in order]
    return sorted(out, key=lambda x: x["timestamp"])


def arrival_order(predictions: Sequence[dict[str, Any]], labels: Sequence[dict[str, Any]]
                  ) -> list[tuple[str, dict[str, Any]]]:
    """Both streams as one arrival order: each label no earlier than its own time
    (so a shuffled label may still come before its prediction when its delay is short)."""
    tagged = [(e["timestamp"], 0, i, "prediction", e) for i, e in enumerate(predictions)]
    tagged += [(e["timestamp"], 1, i, "label", e) for i, e in enumerate(labels)]
    tagged.sort(key=lambda t: (t[0], t[1], t[2]))
    return [(kind, e) for _, _, _, kind, e in tagged]


def labelled_model_config(**overrides: Any) -> dict[str, Any]:
    """The configuration of ``credit-scorer`` with the label path on."""
    cfg: dict[str, Any] = {
        "model_id": LABELLED_MODEL,
        "features": [{"name": "x1"}, {"name": "x2"}],
        "prediction": {"type": "score"},
        "reference": {"learn_first_n": 1000, "sample_rows": 0},
        "window": {"events": 1000},
        "detectors": {"multivariate": []},
        "sensitive_attributes": ["region"],
        "labels": {"task": "binary", "window_pairs": 1000, "learn_first_n": 2000},
        "fairness": {"groups": {"region": ["north", "south"]}, "min_group_size": 100},
        "retrain": {"consecutive_windows": 2, "cooldown_seconds": 3600},
    }
    for k, v in overrides.items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
    return cfg


def to_json(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()
