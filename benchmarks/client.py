"""Sidecar client throughput against bare producers on the same broker, in the same run.

The events are the benchmark workload's (:mod:`benchmarks.workload`: 20 numeric and
5 categorical features, ~650 bytes). Each trial measures, on one embedded broker:

* **bare aiokafka**: an ``AIOKafkaProducer`` sending the workload's encoded events in
  envelopes of ``--batch`` events (the client's settings: ``acks=all``, one envelope
  per record), all futures awaited: the ceiling for moving these bytes;
* **bare kafka-python**: ``KafkaProducer`` sending the same envelopes (it checksums
  record batches in pure Python unless the ``crc32c`` package is installed); on
  fewer events, since it is slow;
* **client delivery**: :class:`~stream_monitor.client.MonitorClient` with its buffer
  filled while its producer is held, then released: events per second from the
  release to the last acknowledgement (how fast events *leave* the client);
* **client end to end**: the application thread logging the events' dicts through
  ``log_prediction`` as fast as it can (``block=True``, so nothing is dropped) until
  ``flush()`` returns: validation and encoding in the caller included.

Ratios are taken within a trial against bare aiokafka; the report gives medians and
ranges over ``--trials`` trials. Nothing here is asserted; the tests assert behaviour.

Run ``python -m benchmarks.client`` (about a minute); it writes
``benchmarks/results/client.md`` and ``client.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.workload import encoded_events
from stream_monitor.client import MonitorClient
from stream_monitor.tools.broker import EmbeddedBroker, free_port
from stream_monitor.tools.kafka_admin import create_topics
from stream_monitor.tools.traffic import envelope

__all__ = ["main"]

HERE = Path(__file__).resolve().parent
MAX_MESSAGE_BYTES = 900_000


def _log(msg: str) -> None:
    print(f"[client bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _envelopes(raw: Sequence[bytes], batch: int) -> list[bytes]:
    return [envelope(raw[i:i + batch]) for i in range(0, len(raw), batch)]


async def _bare_aiokafka(bootstrap: str, topic: str, values: Sequence[bytes], events: int) -> float:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0,
                                max_batch_size=MAX_MESSAGE_BYTES + 1024, max_request_size=2 * MAX_MESSAGE_BYTES)
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(topic, v, key=b"model-000") for v in values]
        await asyncio.gather(*futures)
        return events / (time.perf_counter() - started)
    finally:
        await producer.stop()


def bare_aiokafka(bootstrap: str, topic: str, values: Sequence[bytes], events: int) -> float:
    return asyncio.run(_bare_aiokafka(bootstrap, topic, values, events))


def bare_kafka_python(bootstrap: str, topic: str, values: Sequence[bytes], events: int) -> float:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0,
                             max_request_size=4 * 1024 * 1024)
    try:
        started = time.perf_counter()
        futures = [producer.send(topic, key=b"model-000", value=v) for v in values]
        producer.flush()
        for f in futures:
            f.get(timeout=60)
        return events / (time.perf_counter() - started)
    finally:
        producer.close()


class _Held:
    """An aiokafka producer whose sends wait until ``gate`` is set (started beforehand)."""

    def __init__(self, producer: Any, gate: threading.Event) -> None:
        self._producer = producer
        self._gate = gate

    async def start(self) -> None:
        await self._producer.start()

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        while not self._gate.is_set():  # noqa: ASYNC110 - a threading.Event, set by the benchmark thread
            await asyncio.sleep(0.001)
        return await self._producer.send(topic, value, key=key)

    async def stop(self) -> None:
        await self._producer.stop()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)


def _log_all(client: MonitorClient, rows: Sequence[dict[str, Any]]) -> None:
    for r in rows:
        client.log_prediction(r["prediction"], features=r["features"], score=r["score"], event_id=r["event_id"],
                              timestamp=r["timestamp"], attributes=r["attributes"])


def client_delivery(bootstrap: str, topic: str, rows: Sequence[dict[str, Any]], batch: int) -> tuple[float, float]:
    """Events/s from releasing a full buffer to the last acknowledgement; and the caller's
    cost per ``log_prediction`` (microseconds) while the buffer filled."""
    from aiokafka import AIOKafkaProducer

    gate = threading.Event()

    def factory() -> Any:
        return _Held(AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0,
                                      max_batch_size=MAX_MESSAGE_BYTES + 1024,
                                      max_request_size=2 * MAX_MESSAGE_BYTES), gate)

    client = MonitorClient(bootstrap, "model-000", "v1", predictions_topic=topic, batch_size=batch,
                           max_queue=len(rows), max_queue_bytes=len(rows) * 2048, producer_factory=factory)
    try:
        started = time.perf_counter()
        _log_all(client, rows)
        per_call = (time.perf_counter() - started) / len(rows) * 1e6
        assert client.stats.pending == len(rows), client.stats
        time.sleep(0.5)  # the producer is up and waiting
        started = time.perf_counter()
        gate.set()
        if not client.flush(300):
            raise RuntimeError(f"client did not deliver: {client.stats}")
        rate = len(rows) / (time.perf_counter() - started)
    finally:
        client.close()
    stats = client.stats
    if stats.delivered != len(rows):
        raise RuntimeError(f"client lost events: {stats}")
    return rate, per_call


def client_end_to_end(bootstrap: str, topic: str, rows: Sequence[dict[str, Any]], batch: int) -> float:
    client = MonitorClient(bootstrap, "model-000", "v1", predictions_topic=topic, batch_size=batch,
                           block=True, block_timeout_seconds=60.0)
    try:
        client.log_prediction(0.5)  # the producer connects before the clock starts
        if not client.flush(30):
            raise RuntimeError("client could not connect")
        started = time.perf_counter()
        _log_all(client, rows)
        if not client.flush(300):
            raise RuntimeError(f"client did not deliver: {client.stats}")
        rate = len(rows) / (time.perf_counter() - started)
    finally:
        client.close()
    stats = client.stats
    if stats.delivered != len(rows) + 1:
        raise RuntimeError(f"client lost events: {stats}")
    return rate


def _summary(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def run(events: int, slow_events: int, trials: int, batch: int) -> dict[str, Any]:
    raw = encoded_events(events)
    rows = [json.loads(e) for e in raw]
    values = _envelopes(raw, batch)
    slow_values = _envelopes(raw[:slow_events], batch)
    broker = EmbeddedBroker(free_port()).start()
    runs: dict[str, list[float]] = {k: [] for k in (
        "bare_aiokafka", "bare_kafka_python", "client_delivery", "client_end_to_end", "log_call_us")}
    measures: dict[str, Callable[[str], float]] = {
        "bare_aiokafka": lambda t: bare_aiokafka(broker.bootstrap, t, values, events),
        "bare_kafka_python": lambda t: bare_kafka_python(broker.bootstrap, t, slow_values, slow_events),
        "client_end_to_end": lambda t: client_end_to_end(broker.bootstrap, t, rows, batch),
    }
    try:
        for trial in range(trials):
            for name in ("bare_aiokafka", "client_delivery", "client_end_to_end", "bare_kafka_python"):
                topic = f"bench-client-{trial}-{name}"
                create_topics(broker.bootstrap, [topic], 1)
                if name == "client_delivery":
                    rate, per_call = client_delivery(broker.bootstrap, topic, rows, batch)
                    runs["log_call_us"].append(per_call)
                else:
                    rate = measures[name](topic)
                runs[name].append(rate)
            _log(f"trial {trial + 1}/{trials}: " + ", ".join(
                f"{k} {v[-1]:,.1f}" + ("" if k == "log_call_us" else "/s") for k, v in runs.items()))
    finally:
        broker.stop()
    ratios = {k: [c / b for c, b in zip(runs[k], runs["bare_aiokafka"], strict=True)]
              for k in ("client_delivery", "client_end_to_end", "bare_kafka_python")}
    return {
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "events": events, "slow_events": slow_events, "trials": trials, "batch": batch,
        "event_bytes": round(sum(map(len, raw)) / len(raw), 1),
        "runs": runs, "summary": {k: _summary(v) for k, v in runs.items()},
        "ratios": {k: _summary(v) for k, v in ratios.items()},
    }


def to_markdown(res: dict[str, Any], command: str) -> str:
    s, r, m = res["summary"], res["ratios"], res["machine"]

    def rate(k: str) -> str:
        return f"{s[k]['median']:,.0f} | {s[k]['min']:,.0f} - {s[k]['max']:,.0f}"

    def ratio(k: str) -> str:
        return f"{r[k]['median']:.2f} | {r[k]['min']:.2f} - {r[k]['max']:.2f}"

    met = s["client_delivery"]["median"] >= 50_000
    return "\n".join([
        "# Sidecar client benchmark",
        "",
        f"Generated by `{command}` on {res['generated']}: {m['cores']} cores (shared with other work; load average "
        f"{m['load_average_at_end'][0]:.1f} at the end), Python {m['python']}, the embedded Tansu broker on the same "
        f"machine. Events: the workload's predictions of 20 numeric and 5 categorical features "
        f"({res['event_bytes']:.0f} bytes on average), in envelopes of {res['batch']} events, one partition. "
        f"{res['trials']} trials; {res['events']:,} events per measurement ({res['slow_events']:,} for kafka-python); "
        "ratios are taken within a trial.",
        "",
        "| measurement | median events/s | range | / bare aiokafka (median) | range |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| bare aiokafka producer, same envelopes | {rate('bare_aiokafka')} | 1.00 | - |",
        f"| bare kafka-python producer, same envelopes | {rate('bare_kafka_python')} | {ratio('bare_kafka_python')} |",
        f"| **client delivery** (full buffer released) | {rate('client_delivery')} | {ratio('client_delivery')} |",
        f"| client end to end (`log_prediction` + delivery, one app thread) | {rate('client_end_to_end')} | "
        f"{ratio('client_end_to_end')} |",
        "",
        f"Target: the client delivers >= 50,000 events/s of this size: **{'met' if met else 'not met'}** "
        f"(median {s['client_delivery']['median']:,.0f}).",
        "",
        f"The caller's cost of one `log_prediction` (validation against the event contract, encoding, queueing): "
        f"median {s['log_call_us']['median']:.1f} us ({s['log_call_us']['min']:.1f} - {s['log_call_us']['max']:.1f}). "
        "It bounds the end-to-end rate of a single application thread; the sender shares the process (and its "
        "interpreter lock) with the application.",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--slow-events", type=int, default=20_000, help="events for the bare kafka-python producer")
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--batch", type=int, default=500, help="events per envelope (the client's default)")
    p.add_argument("--output", default=str(HERE / "results" / "client.md"))
    args = p.parse_args(argv)
    res = run(args.events, args.slow_events, args.trials, args.batch)
    command = "python -m benchmarks.client" + "".join(
        f" --{k.replace('_', '-')} {v}" for k, v in vars(args).items()
        if k != "output" and v != p.get_default(k))
    text = to_markdown(res, command)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
