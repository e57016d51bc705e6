"""The baseline of goal 1: a faust agent that only iterates the topic, nothing else.

``--mode take`` uses the same faust settings and the same ``take_events`` batching
as the stream-monitor worker (:mod:`stream_monitor.app.worker`); ``--mode
default`` iterates ``stream.events()`` with faust's defaults. The agent records
when it has seen 10% and 90% of ``--events`` and writes
``{"events", "t10", "t90", "rate"}`` as JSON to ``--result``; the caller then
stops the process.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from typing import Any

from stream_monitor.config.groups import WorkerSettings

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--result", required=True)
    p.add_argument("--app-id", required=True)
    p.add_argument("--mode", choices=["take", "default"], default="take")
    p.add_argument("--batch-max-events", type=int, default=WorkerSettings().batch_max_events)
    p.add_argument("--batch-max-seconds", type=float, default=WorkerSettings().batch_max_seconds)
    args = p.parse_args(argv)

    import faust

    logging.basicConfig(level=logging.WARNING)
    common: dict[str, Any] = {
        "broker": f"kafka://{args.bootstrap}",
        "web_enabled": False,
        "datadir": tempfile.mkdtemp(prefix="bare-faust-"),
        "consumer_auto_offset_reset": "earliest",
        "broker_session_timeout": 10.0,  # as the worker: faust's 60 s default hangs joins on Tansu
        "topic_allow_declare": False,
    }
    if args.mode == "take":  # the worker's settings (stream_monitor.app.worker.MonitorApp)
        max_bytes = 1_048_576
        common.update(
            broker_commit_interval=1.0,
            processing_guarantee="at_least_once",
            producer_acks=-1,
            producer_max_request_size=max(max_bytes * 2, 1_048_576),
            consumer_max_fetch_size=max(max_bytes * 2, 4 * 1_048_576),
            stream_buffer_maxsize=max(args.batch_max_events * 2, 4096),
        )
    app = faust.App(args.app_id, **common)
    if args.mode == "take":  # the worker's consumer too (its fetch wait)
        from stream_monitor.app.faust_io import consumer_class

        app.transport.Consumer = consumer_class(WorkerSettings().fetch_max_wait_ms)
    topic = app.topic(args.topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    seen = {"n": 0, "t10": None, "t90": None}
    low, high = args.events // 10, args.events * 9 // 10

    def count(k: int) -> None:
        seen["n"] += k
        now = time.monotonic()
        if seen["t10"] is None and seen["n"] >= low:
            seen["t10"] = (now, seen["n"])
        if seen["t90"] is None and seen["n"] >= high:
            seen["t90"] = (now, seen["n"])
            (t10, n10), (t90, n90) = seen["t10"], seen["t90"]
            with open(args.result, "w") as fh:
                json.dump({"events": seen["n"], "rate": (n90 - n10) / max(t90 - t10, 1e-9)}, fh)

    @app.agent(topic, name="bare")
    async def bare(stream: Any) -> None:
        if args.mode == "take":
            async for events in stream.take_events(args.batch_max_events, within=args.batch_max_seconds):
                count(len(events))
        else:
            async for _event in stream.events():
                count(1)

    sys.argv = [sys.argv[0], "worker", "-l", "warn"]
    app.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
