"""The benchmark workload: JSON prediction events of 20 numeric and 5 categorical features.

Each event is about 645 bytes. The same seed gives
the same bytes. The environment variable ``BENCH_NUMERIC_FEATURES`` (read at
import) sets another number of numeric features, for the benchmarks that measure
on a wider model (:mod:`benchmarks.core`: 30); a process and the peer process it
starts see the same value. :func:`write_config` writes a worker configuration (with a
reference profile built from the same distribution) for ``n_models`` models.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["N_CATEGORICAL", "N_NUMERIC", "encoded_events", "model_spec_dict", "reference_rows", "write_config"]

N_NUMERIC = int(os.environ.get("BENCH_NUMERIC_FEATURES", "20"))
N_CATEGORICAL = 5
NUMERIC = [f"num_{i:02d}" for i in range(N_NUMERIC)]
CATEGORICAL = [f"cat_{i}" for i in range(N_CATEGORICAL)]
_LEVELS = [f"level_{j}" for j in range(8)]
_START = 1_767_225_600.0


def _rows(n: int, seed: int, shift: float = 0.0) -> Iterator[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    for lo in range(0, n, 10_000):
        m = min(10_000, n - lo)
        num = np.round(rng.normal(50.0 + shift, 12.0, size=(m, N_NUMERIC)), 5)
        cat = rng.integers(0, len(_LEVELS), size=(m, N_CATEGORICAL))
        score = np.round(rng.beta(2, 8, size=m), 6)
        for j in range(m):
            row: dict[str, Any] = dict(zip(NUMERIC, num[j].tolist(), strict=True))
            row.update(zip(CATEGORICAL, (_LEVELS[k] for k in cat[j]), strict=True))
            row["score"] = float(score[j])
            yield row


def reference_rows(n: int = 20_000, seed: int = 1) -> Iterator[dict[str, Any]]:
    """Rows of the reference (training) data."""
    yield from _rows(n, seed)


def encoded_events(n: int, *, models: int = 1, seed: int = 7, start: int = 0, shift: float = 0.0) -> list[bytes]:
    """``n`` encoded prediction events, spread round-robin over ``models`` models;
    ``shift`` moves the mean of every numeric feature (drift)."""
    out = []
    for i, row in enumerate(_rows(n, seed + start, shift), start):
        score = row.pop("score")
        event = {
            "event_id": f"evt-{seed}-{i:012d}",
            "model_id": f"model-{i % models:03d}",
            "model_version": "v1",
            "timestamp": _START + i / 1000.0,
            "features": row,
            "prediction": int(score >= 0.5),
            "score": score,
            "attributes": {"region": "eu-west-1"},
            "latency_ms": 3.5,
        }
        out.append(json.dumps(event, separators=(",", ":")).encode())
    return out


def model_spec_dict(model_id: str, profile: str, retrain: dict[str, Any] | None = None) -> dict[str, Any]:
    """A model with every default detector (ks, psi, chi2, mmd, calibrated thresholds)."""
    return {
        **({"retrain": retrain} if retrain else {}),
        "model_id": model_id,
        "features": [{"name": n, "type": "numeric"} for n in NUMERIC]
        + [{"name": n, "type": "categorical"} for n in CATEGORICAL],
        "prediction": {"type": "score"},
        "reference": {"profile": profile},
        "window": {"events": 1000},
    }


def write_config(
    directory: Path,
    *,
    models: int = 1,
    bootstrap: str = "127.0.0.1:9092",
    topic_prefix: str = "bench",
    partitions: int = 1,
    app_id: str = "bench-monitor",
    extra_worker: dict[str, Any] | None = None,
    retrain: dict[str, Any] | None = None,
    web_port: int | None = None,
) -> Path:
    """Write ``profile.json`` and ``config.yaml`` into ``directory``; return the config path."""
    from stream_monitor.config.references import save_profile
    from stream_monitor.specs.model import ModelSpec
    from stream_monitor.windows.profile import build_profile

    directory.mkdir(parents=True, exist_ok=True)
    profile_path = directory / "profile.json"
    if not profile_path.exists():
        spec = ModelSpec.model_validate(model_spec_dict("model-000", str(profile_path)))
        profile = build_profile(spec, reference_rows(), source="benchmark reference",
                                prediction_column=("score",))
        save_profile(profile, profile_path)
    config = {
        "kafka": {"bootstrap_servers": bootstrap},
        "topics": {
            "predictions": f"{topic_prefix}-predictions",
            "features": f"{topic_prefix}-features",
            "labels": f"{topic_prefix}-labels",
            "retrain_requests": f"{topic_prefix}-retrain",
            "dead_letter": f"{topic_prefix}-dlq",
            "partitions": partitions,
        },
        "worker": {"app_id": app_id, "data_dir": str(directory / "data"), "log_level": "warning",
                   **(extra_worker or {})},
        "models": [model_spec_dict(f"model-{m:03d}", "profile.json", retrain) for m in range(models)],
        **({"web": {"port": web_port}} if web_port else {}),
    }
    path = directory / "config.yaml"
    path.write_text(json.dumps(config, indent=1))  # JSON is YAML
    return path
