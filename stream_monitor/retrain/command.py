"""``stream-monitor retrain-listen``: run a command for every retrain request.

Kafka connection and security come from the worker's settings: ``--config``
(its YAML file) or the ``STREAM_MONITOR_KAFKA__...`` environment variables;
``--bootstrap-servers``, ``--topic`` and ``--dead-letter-topic`` override them.
Exits 0 after SIGTERM or SIGINT (the current request finishes within
``--shutdown-grace-seconds`` or is handled again after the restart) and prints
its counters as one JSON line on standard error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import signal
import sqlite3
import sys
from pathlib import Path

from stream_monitor.retrain.options import ListenOptions

__all__ = ["add_parser", "cmd_retrain_listen", "options_from_args"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("retrain-listen", help="run a command for every retrain request (at least once)")
    a = p.add_argument
    a("--exec", dest="exec_cmd", required=True, metavar="CMD",
      help="command run per request, split like a shell would (no shell); the request JSON on stdin, "
           "STREAM_MONITOR_REQUEST_ID and friends in its environment; exit 0 means handled")
    a("--config", help="the worker's YAML file: kafka connection, security and topic names")
    a("--bootstrap-servers", help="Kafka bootstrap servers (overrides the settings)")
    a("--topic", help="retrain request topic (default: topics.retrain_requests)")
    a("--dead-letter-topic", help="where poison requests go (default: <topic>-dlq)")
    a("--group-id", default="stream-monitor-retrain", help="consumer group (default: %(default)s)")
    a("--store", default=".stream-monitor/retrain-dedup.sqlite",
      help="dedup store file (SQLite), kept across restarts (default: %(default)s)")
    a("--store-max-entries", type=int, default=100_000,
      help="resolved request ids the store keeps, oldest forgotten first (default: %(default)s)")
    a("--max-attempts", type=int, default=5,
      help="attempts per request before it is dead-lettered (default: %(default)s)")
    a("--backoff-initial-seconds", type=float, default=1.0,
      help="wait after the first failed attempt, doubled after each further one (default: %(default)s)")
    a("--backoff-max-seconds", type=float, default=60.0, help="longest wait between attempts (default: %(default)s)")
    a("--handler-timeout-seconds", type=float, default=3600.0,
      help="an attempt running longer is killed and failed; 0: no limit (default: %(default)s)")
    a("--coalesce-seconds", type=float, default=0.0,
      help="after records arrive, wait this long for more, so updates supersede requests not yet handled "
           "(default: %(default)s)")
    a("--shutdown-grace-seconds", type=float, default=30.0,
      help="on SIGTERM, how long a running command may finish before it is stopped (default: %(default)s)")
    a("--session-timeout-seconds", type=float, default=10.0,
      help="consumer group session timeout, at least 6 (default: %(default)s)")
    a("--auto-offset-reset", choices=["earliest", "latest"], default="earliest",
      help="where a new group starts: earliest handles requests published before its first start "
           "(default: %(default)s)")
    a("--fault-kill-before-commit", action="store_true",
      help="test hook: SIGKILL itself after a success is recorded and before its offset commit; never in "
           "production")
    p.set_defaults(func=cmd_retrain_listen)


def options_from_args(args: argparse.Namespace) -> ListenOptions:
    from stream_monitor.settings import ServiceSettings

    settings = ServiceSettings.from_yaml(args.config) if args.config else ServiceSettings()
    topic = args.topic or settings.topics.retrain_requests
    return ListenOptions(
        bootstrap_servers=args.bootstrap_servers or settings.kafka.bootstrap_servers,
        security=settings.kafka.security, topic=topic,
        dead_letter_topic=args.dead_letter_topic or f"{topic}-dlq", group_id=args.group_id,
        store_path=Path(args.store), store_max_entries=args.store_max_entries, max_attempts=args.max_attempts,
        backoff_initial_seconds=args.backoff_initial_seconds, backoff_max_seconds=args.backoff_max_seconds,
        handler_timeout_seconds=args.handler_timeout_seconds or None, coalesce_seconds=args.coalesce_seconds,
        shutdown_grace_seconds=args.shutdown_grace_seconds, session_timeout_seconds=args.session_timeout_seconds,
        auto_offset_reset=args.auto_offset_reset, fault_kill_before_commit=args.fault_kill_before_commit,
    )


def cmd_retrain_listen(args: argparse.Namespace) -> int:
    from aiokafka.errors import KafkaError

    from stream_monitor.errors import BrokerConnectError, ConfigError
    from stream_monitor.retrain.handlers import ExecHandler
    from stream_monitor.retrain.listener import RetrainListener
    from stream_monitor.tools.kafka_admin import check_broker, create_topics

    try:
        argv = shlex.split(args.exec_cmd)
        options = options_from_args(args)
    except ValueError as exc:
        raise ConfigError(f"retrain-listen: {exc}") from None
    if not argv:
        raise ConfigError("retrain-listen: --exec is empty")
    check_broker(options.bootstrap_servers, options.security)
    create_topics(options.bootstrap_servers, [options.dead_letter_topic], 1, security=options.security)
    handler = ExecHandler(argv, options.handler_timeout_seconds, env=os.environ)
    listener = RetrainListener(options, handler)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, listener.stop)
        await listener.run()

    try:
        asyncio.run(main())
    except KafkaError as exc:  # nothing is lost: what was not committed comes again at the next start
        raise BrokerConnectError(f"retrain-listen stopped on a Kafka error ({type(exc).__name__}); restart it: "
                                 "requests after the last committed offset are delivered again") from None
    except sqlite3.Error as exc:
        raise ConfigError(f"{options.store_path}: the dedup store cannot be used ({exc})") from None
    finally:
        print(json.dumps({"retrain_listen": listener.stats.as_dict()}), file=sys.stderr, flush=True)
    return 0
