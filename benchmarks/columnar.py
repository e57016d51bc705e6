"""Columnar envelopes: the whole worker against the raw consume + decode ceilings.

The same events (the benchmark workload: 20 numeric and 5 categorical features)
are put on the embedded broker twice, in row envelopes and in columnar envelopes
of 1,000 events, and measured in one session, run by run:

* ``ceiling_rows``: a bare aiokafka consumer decoding the row envelopes with orjson;
* ``ceiling_columns``: the same consumer decoding the columnar envelopes with orjson;
* ``decode_columns``: the same consumer validating the columnar envelopes with the
  worker's own decoder only (:func:`stream_monitor.validation.decode`);
* ``worker_columns`` and ``worker_rows``: ``stream-monitor run`` on each topic.

In-process, without a broker, it also times decoding alone and the whole core
(:meth:`stream_monitor.pipeline.monitor.Monitor.observe`) per event for both formats.
``python -m benchmarks.columnar`` writes ``benchmarks/results/columnar.md``;
``--quick`` is the reduced run of ``make bench-quick``. The figures are kept in
``columnar.json`` beside the page.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

HERE = Path(__file__).resolve().parent
SIZE = 1000


def _log(msg: str) -> None:
    print(f"[columnar {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def envelopes(total: int) -> tuple[list[bytes], list[bytes]]:
    """The same ``total`` workload events as row envelopes and as columnar envelopes of 1,000."""
    from benchmarks.workload import encoded_events
    from stream_monitor.events import PredictionEvent
    from stream_monitor.events.envelope import encode_columns, encode_rows

    rows, columns = [], []
    for lo in range(0, total, SIZE):
        raw = encoded_events(min(SIZE, total - lo), start=lo)
        rows.append(encode_rows(raw))
        packed = encode_columns([PredictionEvent.model_validate_json(r) for r in raw])
        assert packed is not None
        columns.append(packed)
    return rows, columns


def in_process(total: int) -> dict[str, float]:
    """Microseconds per event, best of three, for decoding alone and the whole core (after two
    warm-up envelopes), both formats."""
    import orjson
    from threadpoolctl import threadpool_limits

    from benchmarks.core import core_per_event
    from benchmarks.workload import write_config
    from stream_monitor.config.references import load_references
    from stream_monitor.settings import ServiceSettings
    from stream_monitor.validation import decode

    threadpool_limits(limits=1, user_api="blas")
    rows, columns = envelopes(total)
    with tempfile.TemporaryDirectory() as tmp:
        settings = ServiceSettings.from_yaml(write_config(Path(tmp)))
        refs = load_references(settings)

    def timed(fn: Callable[[], Any]) -> float:
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) / total * 1e6

    steps: dict[str, Callable[[], float]] = {
        "orjson_rows": lambda: timed(lambda: [orjson.loads(v) for v in rows]),
        "orjson_columns": lambda: timed(lambda: [orjson.loads(v) for v in columns]),
        "decode_rows": lambda: timed(lambda: [decode(v, "prediction", max_bytes=1 << 24) for v in rows]),
        "decode_columns": lambda: timed(lambda: [decode(v, "prediction", max_bytes=1 << 24) for v in columns]),
        "core_rows": lambda: core_per_event(settings, refs, rows),
        "core_columns": lambda: core_per_event(settings, refs, columns),
    }
    best: dict[str, float] = {}
    for _ in range(3):  # rounds of every step: both formats see the same moments of a shared machine
        for name, step in steps.items():
            best[name] = min(best.get(name, float("inf")), step())
    return {**best, "bytes_rows": sum(map(len, rows)) / total, "bytes_columns": sum(map(len, columns)) / total}


def over_broker(total: int, runs: int) -> dict[str, list[float]]:
    from benchmarks.throughput import Bench, produce

    rows, columns = envelopes(total)
    bench = Bench()
    out: dict[str, list[float]] = {k: [] for k in (
        "ceiling_rows", "ceiling_columns", "decode_columns", "worker_columns", "worker_rows")}
    try:
        row_topic, col_topic = bench.topics("rowenv", 1), bench.topics("colenv", 1)
        produce(bench.bootstrap, row_topic, rows)
        produce(bench.bootstrap, col_topic, columns)
        for r in range(runs):
            _log(f"run {r + 1}/{runs}")
            out["ceiling_rows"].append(bench.ceiling(row_topic, total, batched=True))
            out["ceiling_columns"].append(bench.ceiling(col_topic, total, batched=True))
            out["decode_columns"].append(bench.ceiling(col_topic, total, batched=True, validate=True))
            out["worker_columns"].append(bench.workers(bench.config("colenv"), total))
            out["worker_rows"].append(bench.workers(bench.config("rowenv"), total))
            _log("  " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in out.items()))
    finally:
        bench.close()
    return out


def _med(values: Sequence[float]) -> float:
    finite = [v for v in values if v == v]
    return statistics.median(finite) if finite else float("nan")


def _ratio(a: Sequence[float], b: Sequence[float]) -> str:
    r = [x / y for x, y in zip(a, b, strict=True) if x == x and y == y]
    return f"{statistics.median(r):.2f} ({min(r):.2f} - {max(r):.2f})" if r else "n/a"


def to_markdown(local: dict[str, float], broker: dict[str, list[float]] | None, command: str,
                measured: str) -> str:
    lines = [
        "# Columnar envelopes",
        "",
        f"Measured on {measured} UTC, {os.cpu_count()} cores ({platform.machine()}, "
        f"{platform.system()}), Python {platform.python_version()}, the embedded Tansu broker on the same machine, "
        f"by `{command}`. The machine was shared with other jobs while it ran, so the figures are "
        "noisy; the ratios are taken within a run. Events: the benchmark workload (20 numeric and 5 categorical "
        "features, score, one attribute, latency) in envelopes of 1,000.",
        "",
        "## In-process, per event (best of three)",
        "",
        "| | row envelope | columnar envelope |",
        "| --- | ---: | ---: |",
        f"| bytes per event | {local['bytes_rows']:.0f} | {local['bytes_columns']:.0f} |",
        f"| orjson decode | {local['orjson_rows']:.2f} us | {local['orjson_columns']:.2f} us |",
        f"| the worker's decoder (validation, events built) | {local['decode_rows']:.2f} us | "
        f"{local['decode_columns']:.2f} us |",
        f"| the whole core (decode, windows, detectors, decisions; after 2 warm-up envelopes) | "
        f"{local['core_rows']:.2f} us | "
        f"{local['core_columns']:.2f} us |",
        "",
        f"Decoding is {local['decode_columns'] / local['core_columns']:.0%} of the core's cost per event on "
        f"columnar envelopes and {local['decode_rows'] / local['core_rows']:.0%} on row envelopes. The decoder "
        "validates the columns whole, then builds one ordinary event per valid row, so windows, detectors and "
        "decisions see the same events in both formats; an envelope whose every row is valid also hands its "
        "feature columns to the windows, which then read no value back out of an event. What the columnar "
        "format saves is bytes on the wire, part of the decoding and that reading. Single in-process rounds "
        "on a shared machine move by several us per event: compare formats within one run.",
        "",
    ]
    if broker:
        lines += [
            "## Through the broker (median events/s of the runs, range in brackets)",
            "",
            "| measurement | events/s |",
            "| --- | ---: |",
            *(f"| {label} | {_med(broker[key]):,.0f} ({min(broker[key]):,.0f} - {max(broker[key]):,.0f}) |"
              for key, label in (
                  ("ceiling_rows", "bare aiokafka getmany + orjson, row envelopes"),
                  ("ceiling_columns", "bare aiokafka getmany + orjson, columnar envelopes"),
                  ("decode_columns", "bare aiokafka getmany + the worker's decoder only, columnar envelopes"),
                  ("worker_rows", "stream-monitor worker, row envelopes"),
                  ("worker_columns", "**stream-monitor worker, columnar envelopes**"))),
            "",
            "| ratio | target | median (range) |",
            "| --- | ---: | ---: |",
            f"| worker on columns / row-format ceiling | >= 0.90 | "
            f"{_ratio(broker['worker_columns'], broker['ceiling_rows'])} |",
            f"| worker on columns / columnar ceiling (same bytes) | towards 0.50 | "
            f"{_ratio(broker['worker_columns'], broker['ceiling_columns'])} |",
            f"| worker on columns / worker on rows | - | {_ratio(broker['worker_columns'], broker['worker_rows'])} |",
            "",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the reduced run of make bench-quick")
    p.add_argument("--events", type=int, default=None, help="events per broker run (default 200,000; quick 50,000)")
    p.add_argument("--runs", type=int, default=None, help="broker runs (default 3; quick 1)")
    p.add_argument("--no-broker", action="store_true", help="the in-process figures only")
    p.add_argument("--output", default=str(HERE / "results" / "columnar.md"))
    p.add_argument("--render", help="the .json of an earlier run: write its page again without measuring")
    args = p.parse_args(argv)
    events = args.events or (50_000 if args.quick else 200_000)
    runs = args.runs or (1 if args.quick else 3)
    out = Path(args.output)
    if args.render:  # the figures of an earlier run, written again (after a change of this page's text)
        saved = json.loads(Path(args.render).read_text())
        local, broker, command, measured = saved["local"], saved["broker"], saved["command"], saved["measured"]
    else:
        measured = time.strftime("%Y-%m-%d %H:%M")
        local_events = 10_000 if args.quick else 20_000
        _log(f"in-process: {local_events:,} events")
        local = in_process(local_events)
        broker = None if args.no_broker else over_broker(events, runs)
        command = ("python -m benchmarks.columnar " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(
            {"measured": measured, "command": command, "local": local, "broker": broker,
             "load_average_after": os.getloadavg()}, indent=1))
    text = to_markdown(local, broker, command, measured)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
