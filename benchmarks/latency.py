"""Goal 5: latency from sending a drifted window to its retrain request on the topic, by stage.

Windows of 1,000 drifted events (one row envelope each) are sent one at a time to a
worker whose policy requests a retrain on every drifted window; the time from before a
window is sent to its request arriving at a consumer of the request topic is the figure.

With ``trace=True`` the worker runs as ``python -m benchmarks.latency trace FILE run ...``:
the same worker, with timestamps (``time.monotonic``, one clock for every process on the
machine) written at each stage, without changing what it does:

========================  ==========================================================
``sent``                  the benchmark's producer has the broker's acknowledgement
``fetch_issued``          the worker's fetch that returned the window was sent
``fetched``               ... and its response parsed (aiokafka's consumer thread)
``handed``                the batch reached the core (``Runtime.handle``, after faust's
                          hand-over and ``take_events``' gathering)
``decided``               the core returned the outcome holding the request
``publish_start``         the request is handed to the producer
``published``             the broker acknowledged it
``received``              the benchmark's consumer of the request topic has it
========================  ==========================================================

Between windows the benchmark pauses for a random 0-200 ms (seeded), so that a window
arrives at any point of the worker's fetch cycle, as a breach in production would.

The consumer of the request topic is an aiokafka consumer with a blocking ``getmany``
and ``fetch_max_wait_ms`` 10 (:data:`CONSUMER_FETCH_MAX_WAIT_MS`): the embedded broker
answers a waiting fetch only some time after records arrive (about a third of the
fetch's wait on average), so a longer wait would put the measuring consumer's own
delay into the figure. ``published`` (the request acknowledged by the broker) is the
product's end; ``received`` adds that consumer.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["CONSUMER_FETCH_MAX_WAIT_MS", "SPANS", "STAGES", "fetch_note", "measure", "percentile", "section",
           "stage_table"]

# The request topic's consumer: a blocking fetch with a short broker wait, so that it
# adds little of its own (measured on the embedded broker: a record produced while an
# aiokafka fetch waits arrived after 1.9 ms median, 8 ms max with 10 ms; 9.9 / 43 ms with
# 100 ms; 77 / 174 ms with 500 ms, aiokafka's default).
CONSUMER_FETCH_MAX_WAIT_MS = 10
PAUSE_SECONDS = 0.2
STAGES = ("sent", "fetch_issued", "fetched", "handed", "decided", "publish_start", "published", "received")


def _install_trace(path: str) -> None:
    """Timestamps at each stage of the worker, appended to ``path`` as ``name time`` lines."""
    from aiokafka.consumer import fetcher

    from stream_monitor.app import faust_io
    from stream_monitor.app.runtime import Runtime
    from stream_monitor.pipeline.monitor import Monitor

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def stamp(name: str, t: float | None = None) -> None:
        os.write(fd, f"{name} {time.monotonic() if t is None else t:.6f}\n".encode())

    issued: contextvars.ContextVar[float] = contextvars.ContextVar("issued", default=0.0)
    proc_fetch = fetcher.Fetcher._proc_fetch_request

    async def traced_fetch(self: Any, *args: Any) -> Any:
        issued.set(time.monotonic())
        return await proc_fetch(self, *args)

    records_init = fetcher.PartitionRecords.__init__  # inherited by the worker's guarded records class

    def traced_records(self: Any, tp: Any, *args: Any) -> None:
        if tp.topic.endswith("-predictions"):  # one line: the pair belongs together
            os.write(fd, f"fetched {time.monotonic():.6f} {issued.get():.6f}\n".encode())
        records_init(self, tp, *args)

    fetcher.Fetcher._proc_fetch_request = traced_fetch
    fetcher.PartitionRecords.__init__ = traced_records

    handle, observe, publish = Runtime.handle, Monitor.observe, faust_io.FaustPublisher.publish

    async def traced_handle(self: Any, records: Any) -> None:
        stamp("handed")
        await handle(self, records)

    def traced_observe(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = observe(self, *args, **kwargs)
        if out.requests:
            stamp("decided")
        return out

    async def traced_publish(self: Any, topic: str, *args: Any, **kwargs: Any) -> None:
        if topic.endswith("-retrain"):
            stamp("publish_start")
        await publish(self, topic, *args, **kwargs)
        if topic.endswith("-retrain"):
            stamp("published")

    Runtime.handle = traced_handle  # type: ignore[method-assign]
    Monitor.observe = traced_observe  # type: ignore[method-assign]
    faust_io.FaustPublisher.publish = traced_publish  # type: ignore[method-assign]


def _stages(trace: Path, windows: Sequence[dict[str, float]]) -> list[dict[str, float]]:
    """Each window's stage times: the first stamp of each name after the window was sent."""
    stamps = []
    if trace.exists():
        for line in trace.read_text().splitlines():
            name, t, *issued = line.split()
            stamps.extend([("fetch_issued", float(issued[0])), ("fetched", float(t))] if issued else
                          [(name, float(t))])
    out = []
    for i, w in enumerate(windows):
        end = windows[i + 1]["start"] if i + 1 < len(windows) else float("inf")
        row = dict(w)
        for j, (name, t) in enumerate(stamps):
            if name == "fetched" and "fetched" not in row and w["start"] <= t < end:
                row["fetch_issued"] = stamps[j - 1][1]
            if name not in row and name != "fetch_issued" and w["start"] <= t < end:
                row[name] = t
        out.append(row)
    return out


async def _run(bootstrap: str, prefix: str, windows: int, warm_up: int, ready: Any,
               wait_ms: int) -> list[dict[str, float]]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from benchmarks.workload import encoded_events
    from stream_monitor.tools.traffic import envelope

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_wait_ms=wait_ms)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0,
                                max_request_size=4 * 1_048_576)
    await consumer.start()
    await producer.start()
    out: list[dict[str, float]] = []
    pause = random.Random(20).uniform  # noqa: S311 - a seeded schedule, not a secret
    try:
        consumer.assign([TopicPartition(f"{prefix}-retrain", 0)])
        await ready()
        for i in range(warm_up + windows):
            await asyncio.sleep(pause(0.0, PAUSE_SECONDS))
            value = envelope(encoded_events(1000, start=i * 1000, shift=15.0))
            row = {"start": time.monotonic()}
            await producer.send_and_wait(f"{prefix}-predictions", key=b"fraud-detector", value=value)
            row["sent"] = time.monotonic()
            try:
                got = await asyncio.wait_for(consumer.getmany(timeout_ms=10_000), 10)
            except TimeoutError:
                got = {}
            row["received"] = time.monotonic() if any(got.values()) else float("inf")
            if i >= warm_up:
                out.append(row)
        return out
    finally:
        await producer.stop()
        await consumer.stop()


def measure(bench: Any, windows: int = 20, warm_up: int = 3, *, trace: bool = False,
            consumer_wait_ms: int = CONSUMER_FETCH_MAX_WAIT_MS,
            worker: dict[str, Any] | None = None) -> list[dict[str, float]]:
    """Each window's times (``start`` and the :data:`STAGES`; only ``sent`` and
    ``received`` without ``trace``); latency is ``received - start``. ``worker``:
    settings of the worker group that replace the defaults."""
    from benchmarks.throughput import Worker

    prefix = bench._name("lat")
    topic = bench.topics(prefix, 1)
    config = bench.config(prefix, retrain={"consecutive_windows": 1, "cooldown_seconds": 0}, extra_worker=worker)
    trace_file = bench.dir / f"{prefix}.trace"
    proc = Worker(config, bench.bootstrap, bench.dir / f"{prefix}.log",
                  wrapper=("benchmarks.latency", "trace", str(trace_file)) if trace else None).start()

    async def ready() -> None:
        deadline = time.monotonic() + 120
        while proc.assigned(topic) != 1:
            bench._check([proc], deadline)
            await asyncio.sleep(0.3)

    try:
        rows = asyncio.run(_run(bench.bootstrap, prefix, windows, warm_up, ready, consumer_wait_ms))
    finally:
        proc.stop()
    return _stages(trace_file, rows) if trace else rows


# The stages in order, each with what it measures; ``fetch_issued`` is reported apart:
# a fetch is usually in flight (waiting at the broker) before the window is sent.
SPANS = (
    ("start", "sent", "the benchmark sends the envelope (~650 KB) and has the acknowledgement"),
    ("sent", "fetched", "the worker's fetch returns it (the broker's fetch wait)"),
    ("fetched", "handed", "faust hands the batch to the core (take_events gathering)"),
    ("handed", "decided", "the core: validation, windows, window close, detectors, policy"),
    ("decided", "publish_start", "sinks before the request (dead letters, routes)"),
    ("publish_start", "published", "the producer sends the request; the broker acknowledges"),
    ("published", "received", "the benchmark's consumer of the request topic fetches it"),
)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` percentile as ``benchmarks.goals`` takes it: the value with ``int(q * n)``
    values below it (of 100 windows, the p99 is the largest)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _spans(rows: Sequence[dict[str, float]], a: str, b: str) -> list[float]:
    return [(r[b] - r[a]) * 1000 for r in rows if a in r and b in r and r[b] != float("inf")]


def stage_table(rows: Sequence[dict[str, float]]) -> list[str]:
    """Markdown: median, p90, p99 and max milliseconds of each stage and of the whole."""
    lines = ["| stage | what | median ms | p90 ms | p99 ms | max ms |", "| --- | --- | ---: | ---: | ---: | ---: |"]

    def row(name: str, what: str, d: Sequence[float]) -> str:
        return (f"| {name} | {what} | {statistics.median(d):,.1f} | {percentile(d, 0.9):,.1f} | "
                f"{percentile(d, 0.99):,.1f} | {max(d):,.1f} |")

    for a, b, what in SPANS:
        d = _spans(rows, a, b)
        if d:
            lines.append(row(f"{a} -> {b}", what, d))
    for a, b, what in (("sent", "published", "**the window on the broker -> its request on the topic**"),
                       ("start", "received", "**the whole (the headline figure)**")):
        d = _spans(rows, a, b)
        if d:
            lines.append(row(f"**{a} -> {b}**", what, d))
    return lines


def fetch_note(rows: Sequence[dict[str, float]]) -> str:
    """How long before the send the fetch that returned the window had been issued."""
    d = _spans(rows, "fetch_issued", "sent")
    if not d:
        return ""
    return (f"The fetch that returned a window had been waiting at the broker for a median "
            f"{statistics.median(d):,.1f} ms (max {max(d):,.1f} ms) when the window's send was acknowledged.")


def section(rows: Sequence[dict[str, float]]) -> list[str]:
    """The performance page's latency section: the figure, the target, the stages."""
    lat = [(r["received"] - r["start"]) * 1000 for r in rows]
    if not lat:
        return []
    p99 = percentile(lat, 0.99)
    return [
        "## Latency", "",
        f"From sending a window of 1,000 drifted events (one envelope) to its retrain request arriving at a "
        f"consumer of the request topic, {len(lat)} windows after 3 of warm-up, a random "
        f"0-{PAUSE_SECONDS * 1000:.0f} ms apart: p50 {statistics.median(lat):,.0f} ms, p99 {p99:,.0f} ms, "
        f"max {max(lat):,.0f} ms. Target: p99 < 250 ms "
        f"(measured from before the window's events were sent, so an upper bound): "
        f"**{'met' if p99 < 250 else 'not met'}**. The worker runs with its default settings, traced at each stage "
        "(`benchmarks/latency.py`; the stamps cost microseconds):", "",
        *stage_table(rows), "", fetch_note(rows), "",
    ]


def _trace_main(argv: Sequence[str]) -> int:
    """``python -m benchmarks.latency trace FILE run ...``: the worker, traced."""
    _install_trace(argv[0])
    from stream_monitor.cli import main

    return main(list(argv[1:]))


def _bench_main(argv: Sequence[str]) -> int:
    """``python -m benchmarks.latency [--isolate] [--trace]``: the latency alone, by stage."""
    import argparse

    from benchmarks.isolation import isolate
    from benchmarks.throughput import Bench

    p = argparse.ArgumentParser(description="latency from a drifted window to its retrain request")
    p.add_argument("--windows", type=int, default=20)
    p.add_argument("--trace", action="store_true", help="timestamps at each stage of the worker")
    p.add_argument("--consumer-wait-ms", type=int, default=CONSUMER_FETCH_MAX_WAIT_MS)
    p.add_argument("--isolate", action="store_true", help="real-time scheduling (root)")
    p.add_argument("--worker", nargs="*", default=[], metavar="KEY=VALUE",
                   help="worker settings replacing the defaults (values parsed as JSON)")
    p.add_argument("--json", help="write each window's stage times to this file")
    args = p.parse_args(argv)
    if args.isolate:
        isolate()
    worker = {k: json.loads(v) for k, _, v in (w.partition("=") for w in args.worker)}
    bench = Bench()
    try:
        rows = measure(bench, args.windows, trace=args.trace, consumer_wait_ms=args.consumer_wait_ms,
                       worker=worker or None)
    finally:
        bench.close()
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    lat = sorted(r["received"] - r["start"] for r in rows)
    print("latency ms:", [round(x * 1000) for x in lat])
    print("\n".join(stage_table(rows)))
    print(fetch_note(rows))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "trace":
        raise SystemExit(_trace_main(sys.argv[2:]))
    raise SystemExit(_bench_main(sys.argv[1:]))
