"""A seeded run that exercises every part of a monitor's state, for the snapshot tests.

Two models in one :class:`Monitor`:

* ``fraud-detector`` (the demo model) with a learned reference, an abrupt drift, segments
  by region, the feature join, the three streaming detectors, the per-event CUSUM banks,
  the multivariate (embedding) window and rolling references;
* ``credit-scorer`` with the label path (join, performance, concept drift, label-free
  estimate, fairness) and a fairness breach half way.

``python -m tests.unit.pipeline.snapshot_scenario OUT`` writes the snapshot taken at :data:`CUT`
(the file ``tests/data/snapshot_v1.bin`` was written this way by the version-1 code).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

from stream_monitor.pipeline.monitor import Monitor, Outcome, SourceRecord
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate import Scenario, demo_model_config, generate, to_json
from stream_monitor.tools.simulate_labels import (
    LabelScenario,
    arrival_order,
    generate_labelled,
    label_events,
    labelled_model_config,
)

FRAUD, CREDIT = "fraud-detector", "credit-scorer"
BATCH = 400
N_FRAUD = 6000  # events per model
V1_FIXTURE = Path(__file__).resolve().parents[2] / "data" / "snapshot_v1.bin"
V1_END_FIXTURE = V1_FIXTURE.with_name("snapshot_v1_end.bin")  # the same run's state at its end


def specs() -> list[ModelSpec]:
    fraud = demo_model_config()
    fraud["reference"] = {"learn_first_n": 1000, "sample_rows": 500, "rolling_windows": 2}
    fraud["segments"] = {"region": ["north", "south"]}
    fraud["feature_join"] = {"ttl_seconds": 60.0, "max_pending": 1000}
    fraud["detectors"] = {"streaming": [{"kind": "adwin"}, {"kind": "kswin", "every": 5},
                                        {"kind": "page_hinkley"}]}
    credit = labelled_model_config()
    credit["detectors"] = {"multivariate": [], "streaming": [{"kind": "page_hinkley"}]}
    return [ModelSpec.model_validate(fraud), ModelSpec.model_validate(credit)]


def monitor() -> Monitor:
    return Monitor(specs(), {FRAUD: None, CREDIT: None}, max_message_bytes=1 << 20)


def _fraud_arrivals(seed: int, n: int) -> list[tuple[float, str, dict[str, Any]]]:
    """Predictions without features, their feature events (some first, a few missing), orphans."""
    rnd = random.Random(seed)
    out: list[tuple[float, str, dict[str, Any]]] = []
    for i, e in enumerate(generate(Scenario(kind="abrupt", change_at=n // 3, seed=seed), n)):
        region = "south" if rnd.random() < 0.3 else "north"
        out.append((i, "prediction", {**{k: v for k, v in e.items() if k != "features"},
                                      "attributes": {"region": region}}))
        if rnd.random() >= 0.03:
            fe = {"event_id": e["event_id"], "model_id": FRAUD, "model_version": e["model_version"],
                  "timestamp": e["timestamp"], "features": e["features"]}
            out.append((i + rnd.uniform(-20, 20), "feature", fe))
    return out


def records(fraud_seed: int = 8, credit_seed: int = 3, n: int = N_FRAUD) -> list[SourceRecord]:
    """Both models' records in one arrival order, offsets per topic (the defaults: the fixtures' run)."""
    pairs = list(generate_labelled(LabelScenario(kind="fairness", change_at=n // 2, seed=credit_seed), n))
    events, truth = [p for p, _ in pairs], [t for _, t in pairs]
    credit = arrival_order(events, label_events(events, truth, coverage=0.9, duplicate_rate=0.1, seed=credit_seed))
    merged = sorted(_fraud_arrivals(fraud_seed, n), key=lambda a: a[0])
    tagged = [(2 * i, kind, e) for i, (_, kind, e) in enumerate(merged)]
    tagged += [(2 * i + 1, kind, e) for i, (kind, e) in enumerate(credit)]
    tagged.sort(key=lambda a: a[0])
    topics = {"prediction": "model-predictions", "feature": "model-features", "label": "model-labels"}
    offsets = dict.fromkeys(topics, 0)
    out = []
    for _, kind, e in tagged:
        out.append(SourceRecord(kind, to_json(e), topics[kind], 0, offsets[kind],  # type: ignore[arg-type]
                                e["model_id"].encode()))
        offsets[kind] += 1
    return out


def run(mon: Monitor, recs: list[SourceRecord]) -> list[Outcome]:
    # requests are never marked published: they stay pending, in the state
    return [mon.observe(recs[i:i + BATCH], now=0.0) for i in range(0, len(recs), BATCH)]


def cut() -> int:
    """Where the snapshot is taken: a batch boundary past the middle of the run."""
    return (len(records()) // 2) // BATCH * BATCH


if __name__ == "__main__":
    mon = monitor()
    recs = records()
    outs = run(mon, recs[:cut()])
    Path(sys.argv[1]).write_bytes(mon.snapshot())
    print(len(recs), cut(), sum(len(o.requests) for o in outs), "requests")
