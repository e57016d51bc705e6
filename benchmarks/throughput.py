"""Goals 1, 2, 3 and 5 against the embedded broker: throughput ceilings, the worker, scale-out, latency.

Every measurement of throughput is the rate between the moments 10% and 90% of
the events had been consumed, so start-up (imports, the group join, the first
window's threshold calibration) and the tail are left out alike:

* ``ceiling``: a bare aiokafka consumer (``assign`` + ``getmany``) decoding each
  record with orjson; for batch envelopes the envelope is decoded whole;
  ``validate=True``: the same consumer validating each record with the worker's
  own decoder instead (:func:`stream_monitor.validation.decode`, the event
  contract's pydantic models), and nothing else: the ceiling of any monitor that
  validates the contract with pydantic, before windows or detectors;
* ``bare_faust``: :mod:`benchmarks.bare_faust`, a faust agent that only iterates;
* ``workers``: ``python -m stream_monitor run`` processes, the count read from
  their ``/metrics`` (``stream_monitor_events_consumed_total``) every 250 ms,
  with the cores the workers, the broker, the producer and the whole machine
  kept busy over the same interval (from ``/proc``);
* ``latency``: windows of drifted events sent one at a time; the time from
  sending a window's events to its retrain request arriving on the topic.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stream_monitor.tools.broker import EmbeddedBroker, free_port
from stream_monitor.tools.kafka_admin import create_topics

__all__ = ["Bench", "Worker"]

ROOT = Path(__file__).resolve().parent.parent
_CONSUMED = re.compile(r"^stream_monitor_events_consumed_total\{[^}]*\} ([0-9.e+]+)$", re.M)


_TICK = os.sysconf("SC_CLK_TCK")


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def _machine_cpu() -> float:
    """Busy CPU seconds of the whole machine (all cores) so far."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / _TICK  # minus idle and iowait


def cpu_sample(workers: Sequence[int], broker: int | None) -> dict[str, float]:
    """Cumulative CPU seconds of the workers, the broker, this process (the producer) and the machine."""
    return {
        "workers": sum(_process_cpu(pid) for pid in workers),
        "broker": _process_cpu(broker) if broker is not None else 0.0,
        "producer": _process_cpu(os.getpid()),
        "machine": _machine_cpu(),
    }


def cores_busy(samples: Sequence[tuple[float, int, dict[str, float]]], total: int) -> dict[str, float]:
    """Cores each part kept busy between the samples where 10% and 90% of ``total`` were reached."""
    low, high = _interval(samples, total)
    span = high[0] - low[0]
    if span <= 0:
        return {}
    return {k: (high[2][k] - low[2][k]) / span for k in high[2]}


def topics_of(prefix: str) -> list[str]:
    return [f"{prefix}-{t}" for t in ("predictions", "features", "labels", "retrain", "dlq")]


def _interval(samples: Sequence[Any], total: int) -> tuple[Any, Any]:
    """The first samples ``(time, count, ...)`` where 10% and 90% of ``total`` were reached."""
    low = next(s for s in samples if s[1] >= total // 10)
    high = next(s for s in samples if s[1] >= total * 9 // 10)
    return low, high


def _rate(samples: Sequence[tuple[float, int]], total: int) -> float:
    """Events per second between the samples where 10% and 90% of ``total`` were reached."""
    low, high = _interval(samples, total)
    if high[0] <= low[0]:
        return float("nan")  # both in one sample: too fast to measure at this sampling rate
    return (high[1] - low[1]) / (high[0] - low[0])


def produce(bootstrap: str, topic: str, values: Sequence[bytes], partitions: int = 1) -> None:
    """Send values (round-robin over partitions) and wait for every acknowledgement.

    aiokafka, not kafka-python: its record batches are built in C, so that the
    producer outpaces the workers it feeds (kafka-python's does not, for 650 KB envelopes).
    """
    asyncio.run(_produce(bootstrap, topic, values, partitions))


async def _produce(bootstrap: str, topic: str, values: Sequence[bytes], partitions: int) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                                max_batch_size=1_048_576, max_request_size=4 * 1_048_576)
    await producer.start()
    try:
        # Keyed (not null): a null-key record is routed to its model's partition, and the scale runs
        # spread one model over every partition on purpose.
        pending = [await producer.send(topic, value=v, key=b"bench-%d" % (i % partitions), partition=i % partitions)
                   for i, v in enumerate(values)]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def _ceiling(bootstrap: str, topic: str, total: int, batched: bool, validate: bool = False) -> float:
    import orjson
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from stream_monitor.config.groups import LimitSettings
    from stream_monitor.validation.decode import decode

    max_bytes = LimitSettings().max_message_bytes

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1_048_576,
                                fetch_max_bytes=16 * 1_048_576)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.seek_to_beginning()
        n, samples = 0, []
        while n < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                for r in records:
                    if validate:  # one entry per event: valid ones and rejections alike
                        n += len(decode(r.value, "prediction", max_bytes=max_bytes))
                        continue
                    value = orjson.loads(r.value)
                    if batched:  # a row envelope, or a columnar one (one id per event)
                        n += len(value["events"]) if "events" in value else len(value["event_id"])
                    else:
                        n += 1
            samples.append((time.monotonic(), n))
        return _rate(samples, total)
    finally:
        await consumer.stop()


@dataclass
class Worker:
    """One ``stream-monitor run`` process."""

    config: Path
    bootstrap: str
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    wrapper: tuple[str, ...] | None = None  # a module (and its arguments) that runs the CLI instead

    def start(self) -> Worker:
        with open(self.log, "ab") as fh:
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv
                [sys.executable, "-m", *(self.wrapper or ("stream_monitor",)), "run", "--config", str(self.config),
                 "--bootstrap-servers", self.bootstrap, "--web-port", str(self.port)],
                stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
            )
        return self

    def metrics(self, *names: str) -> str:
        """The worker's exposition; only the series ``names`` when given (a cheaper scrape:
        this one runs four times a second while the worker is measured)."""
        query = "?" + "&".join(f"name[]={n}" for n in names) if names else ""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics{query}", timeout=2) as r:  # noqa: S310
                return r.read().decode()
        except OSError:
            return ""

    def consumed(self) -> int:
        return int(sum(float(v) for v in _CONSUMED.findall(self.metrics("stream_monitor_events_consumed_total"))))

    def assigned(self, topic: str) -> int:
        return len(re.findall(r'^stream_monitor_consumer_lag\{[^}]*topic="' + re.escape(topic) + '"',
                              self.metrics("stream_monitor_consumer_lag"), re.M))

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


class Bench:
    """A broker and a scratch directory for one benchmark session."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="stream-monitor-bench-"))
        self.broker = EmbeddedBroker(free_port()).start()
        self.bootstrap = self.broker.bootstrap
        self._runs = 0
        self.last_cpu: dict[str, float] = {}  # cores busy during the last ``workers`` measurement

    def close(self) -> None:
        self.broker.stop()

    def _name(self, kind: str) -> str:
        self._runs += 1
        return f"{kind}{self._runs}"

    def topics(self, prefix: str, partitions: int) -> str:
        create_topics(self.bootstrap, topics_of(prefix), partitions)
        return f"{prefix}-predictions"

    # -- the measurements --------------------------------------------------------------

    def ceiling(self, topic: str, total: int, batched: bool, *, validate: bool = False) -> float:
        return asyncio.run(_ceiling(self.bootstrap, topic, total, batched, validate))

    def bare_faust(self, topic: str, total: int, mode: str = "take", timeout: float = 240.0) -> float:
        result = self.dir / f"{self._name('bare')}.json"
        cmd = [sys.executable, "-m", "benchmarks.bare_faust", "--bootstrap", self.bootstrap, "--topic", topic,
               "--events", str(total), "--result", str(result), "--app-id", result.stem, "--mode", mode]
        with open(self.dir / f"{result.stem}.log", "ab") as fh:
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT,  # noqa: S603
                                    start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while not result.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"bare faust agent failed; see {self.dir}/{result.stem}.log")
                time.sleep(0.2)
            time.sleep(0.1)
            return float(json.loads(result.read_text())["rate"])
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()

    def config(self, prefix: str, *, partitions: int = 1, models: int = 1, **kw: Any) -> Path:
        from benchmarks.workload import write_config

        name = self._name("cfg")
        return write_config(self.dir / name, models=models, bootstrap=self.bootstrap, topic_prefix=prefix,
                            partitions=partitions, app_id=f"bench-{name}", **kw)

    def workers(
        self,
        config: Path,
        total: int,
        *,
        count: int = 1,
        produce_after_ready: tuple[str, Sequence[bytes], int] | None = None,
        timeout: float = 300.0,
    ) -> float:
        """Start ``count`` workers on ``config``; return the events per second of them all.

        With ``produce_after_ready`` (topic, values, partitions) the events are sent
        once every partition is assigned, so that no worker starts alone.
        """
        workers = [Worker(config, self.bootstrap, self.dir / f"{config.parent.name}-{i}.log").start()
                   for i in range(count)]
        producer: threading.Thread | None = None
        try:
            deadline = time.monotonic() + timeout
            if produce_after_ready is not None:
                topic, values, partitions = produce_after_ready
                while [w.assigned(topic) for w in workers] != [partitions // count] * count:
                    self._check(workers, deadline)
                    time.sleep(0.3)
                # Sent from a thread while the counts are sampled; the workers keep up with
                # fewer events per second than the producer sends.
                producer = threading.Thread(target=produce, args=(self.bootstrap, topic, values, partitions))
                producer.start()
            samples: list[tuple[float, int, dict[str, float]]] = []
            pids = [w.process.pid for w in workers if w.process is not None]
            broker = self.broker.process.pid if self.broker.process is not None else None
            while not samples or samples[-1][1] < total * 9 // 10:
                self._check(workers, deadline)
                samples.append((time.monotonic(), sum(w.consumed() for w in workers), cpu_sample(pids, broker)))
                time.sleep(0.25)  # each scrape costs the worker a little CPU
            self.last_cpu = cores_busy(samples, total)
            return _rate([(t, n) for t, n, _ in samples], total)
        finally:
            if producer is not None:
                producer.join()
            for w in workers:
                w.stop()

    @staticmethod
    def _check(workers: Sequence[Worker], deadline: float) -> None:
        for w in workers:
            if w.process is not None and w.process.poll() is not None:
                raise RuntimeError(f"worker exited with {w.process.returncode}; see {w.log}")
        if time.monotonic() > deadline:
            raise TimeoutError("workers did not finish in time")
