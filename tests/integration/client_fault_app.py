"""A serving app that logs predictions through the sidecar client at a fixed rate, for the
client's fault tests: run as its own process, it reports its counters and RSS as JSON lines.

``python -m tests.integration.client_fault_app BOOTSTRAP TOPIC --rate 20000 --seconds 10``

Every half second it prints ``{"t": ..., "rss": ..., "stats": ...}``; at the end it closes the
client and prints ``{"final": true, "close_seconds": ..., "stats": ..., "logged": ...}``.
The events are the benchmark's (20 numeric and 5 categorical features, ~650 bytes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from typing import Any

from benchmarks.workload import encoded_events
from stream_monitor.client import ClientStats, MonitorClient

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def _stats(s: ClientStats) -> dict[str, Any]:
    return asdict(s)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("bootstrap")
    p.add_argument("topic")
    p.add_argument("--rate", type=float, default=20_000)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--close-timeout", type=float, default=5.0)
    p.add_argument("--block", action="store_true")
    args = p.parse_args()
    rows = [json.loads(e) for e in encoded_events(20_000)]
    client = MonitorClient(args.bootstrap, "model-000", "v1", predictions_topic=args.topic, block=args.block)
    started = time.monotonic()
    next_report = started
    logged = 0
    while (now := time.monotonic()) - started < args.seconds:
        if now >= next_report:
            print(json.dumps({"t": round(now - started, 3), "rss": rss_bytes(), "logged": logged,
                              "stats": _stats(client.stats)}), flush=True)
            next_report += 0.5
        due = min(int((now - started) * args.rate), logged + 2000)
        while logged < due:  # catch up in bursts, then sleep: the rate holds on a busy machine too
            r = rows[logged % len(rows)]
            client.log_prediction(r["prediction"], features=r["features"], score=r["score"],
                                  attributes=r["attributes"])
            logged += 1
        time.sleep(0.001)
    before = time.monotonic()
    client.close(timeout=args.close_timeout)
    close_seconds = time.monotonic() - before
    print(json.dumps({"final": True, "close_seconds": close_seconds, "logged": logged, "rss": rss_bytes(),
                      "seconds": before - started, "stats": _stats(client.stats)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
