"""Recovery time after SIGKILL: kill a worker under load, restart it, time until it
processes again. Run: python -m benchmarks.recovery [runs]. Prints each run and the median.

The time is dominated by the group's session timeout (10 s by default): the
restarted member cannot join until the broker expires the dead one.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from stream_monitor.tools.broker import EmbeddedBroker, free_port
from stream_monitor.tools.kafka_admin import create_topics
from stream_monitor.tools.simulate import Scenario, generate, to_json
from stream_monitor.tools.traffic import produce

CONFIG = Path(__file__).resolve().parent.parent / "config" / "demo.yaml"
TOPICS = ["model-predictions", "model-features", "model-labels", "model-retrain-requests", "model-monitor-dlq"]


def _consumed(url: str) -> float:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - local
            for line in r.read().decode().splitlines():
                if line.startswith("stream_monitor_events_consumed_total{"):
                    return float(line.split()[-1])
    except OSError:
        return -1.0
    return 0.0


def _start(bootstrap: str, port: int, data: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "STREAM_MONITOR_WORKER__DATA_DIR": data}
    with log.open("ab") as fh:
        return subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "stream_monitor", "run", "--config", str(CONFIG), "--bootstrap-servers",
             bootstrap, "--web-port", str(port)], stdout=fh, stderr=subprocess.STDOUT, env=env)


def one_run(tmp: Path) -> float:
    broker = EmbeddedBroker(free_port()).start()
    try:
        create_topics(broker.bootstrap, TOPICS, 2)
        port = free_port()
        url = f"http://127.0.0.1:{port}/metrics"
        w = _start(broker.bootstrap, port, str(tmp / "data"), tmp / "worker.log")
        while _consumed(url) < 0:
            time.sleep(0.2)
        produce(broker.bootstrap, "model-predictions", (to_json(e) for e in generate(Scenario(seed=5), 5000)),
                key=b"fraud-detector")
        while _consumed(url) < 5000:
            time.sleep(0.2)
        w.send_signal(signal.SIGKILL)
        w.wait()
        killed = time.monotonic()
        produce(broker.bootstrap, "model-predictions", (to_json(e) for e in generate(Scenario(seed=6), 2000)),
                key=b"fraud-detector")
        w = _start(broker.bootstrap, port, str(tmp / "data"), tmp / "worker.log")
        while _consumed(url) <= 0:
            time.sleep(0.1)
        elapsed = time.monotonic() - killed
        w.send_signal(signal.SIGTERM)
        w.wait(60)
        return elapsed
    finally:
        broker.stop()


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    times = []
    for i in range(runs):
        with tempfile.TemporaryDirectory() as d:
            t = one_run(Path(d))
        times.append(t)
        print(f"run {i + 1}: processing again {t:.1f} s after SIGKILL", flush=True)
    print(f"median {statistics.median(times):.1f} s (min {min(times):.1f}, max {max(times):.1f}) over {runs} runs")


if __name__ == "__main__":
    main()
