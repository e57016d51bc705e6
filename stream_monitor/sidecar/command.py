"""``stream-monitor sidecar``: its options, and the function that runs it.

Imports nothing heavy at module level: the CLI builds its parser from here for
every command.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from stream_monitor.errors import ConfigError

if TYPE_CHECKING:
    from stream_monitor.sidecar.server import SidecarOptions

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The sidecar's options, each with its help text."""
    p.add_argument("--bootstrap-servers", required=True, help="Kafka bootstrap servers, host:port[,host:port]")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: only the pod's own containers can reach it)")
    p.add_argument("--port", type=int, default=8090, help="port to listen on (default 8090; 0 picks a free one)")
    p.add_argument("--mapping", help="YAML mapping of KServe InferenceServices to models, features and outputs")
    p.add_argument("--token-file",
                   help="file holding a bearer token that POST requests must present (Authorization: Bearer ...)")
    p.add_argument("--predictions-topic", default="model-predictions", help="topic of prediction events")
    p.add_argument("--features-topic", default="model-features", help="topic of feature events")
    p.add_argument("--labels-topic", default="model-labels", help="topic of label events")
    p.add_argument("--max-request-bytes", type=int, default=4 * 1024 * 1024,
                   help="largest request body accepted (413 above it; default 4 MiB)")
    p.add_argument("--max-buffer-events", type=int, default=50_000,
                   help="events held at most, queued or unacknowledged (429 when full; default 50000)")
    p.add_argument("--max-buffer-bytes", type=int, default=64 * 1024 * 1024,
                   help="encoded bytes held at most, queued or unacknowledged (429 when full; default 64 MiB)")
    p.add_argument("--batch-size", type=int, default=500, help="events per Kafka message at most (default 500)")
    p.add_argument("--linger-ms", type=float, default=20.0,
                   help="how long to wait for a full batch before sending a partial one (default 20)")
    p.add_argument("--max-message-bytes", type=int, default=900_000,
                   help="bytes per Kafka message at most; a larger event is refused (default 900000)")
    p.add_argument("--pair-timeout-seconds", type=float, default=30.0,
                   help="how long a KServe request waits for its response, or a response for its request, "
                        "before it is counted as expired (default 30)")
    p.add_argument("--max-pending-pairs", type=int, default=10_000,
                   help="KServe requests/responses held waiting for their counterpart at most; the oldest is "
                        "evicted and counted past it (default 10000)")
    p.add_argument("--max-pending-bytes", type=int, default=64 * 1024 * 1024,
                   help="payload bytes held waiting for a counterpart at most (default 64 MiB)")
    p.add_argument("--close-timeout-seconds", type=float, default=10.0,
                   help="on SIGTERM, how long to keep sending what is held before counting it as dropped "
                        "(default 10)")


def _options(args: argparse.Namespace) -> SidecarOptions:
    from stream_monitor.sidecar.server import SidecarOptions

    token = None
    if args.token_file:
        token = Path(args.token_file).read_text(encoding="utf-8").strip()
        if not token:
            raise ConfigError(f"{args.token_file}: the token file is empty")
    for name in ("max_request_bytes", "max_buffer_events", "max_buffer_bytes", "batch_size", "max_pending_pairs",
                 "max_pending_bytes"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1")
    if args.max_message_bytes < 1024 or args.linger_ms < 0 or args.pair_timeout_seconds <= 0:
        raise ConfigError("--max-message-bytes must be >= 1024, --linger-ms >= 0, --pair-timeout-seconds > 0")
    return SidecarOptions(
        bootstrap_servers=args.bootstrap_servers, host=args.host, port=args.port,
        topics=(("prediction", args.predictions_topic), ("feature", args.features_topic),
                ("label", args.labels_topic)),
        token=token, max_request_bytes=args.max_request_bytes, max_buffer_events=args.max_buffer_events,
        max_buffer_bytes=args.max_buffer_bytes, batch_size=args.batch_size, linger_seconds=args.linger_ms / 1000,
        max_message_bytes=args.max_message_bytes, pair_timeout_seconds=args.pair_timeout_seconds,
        max_pending_pairs=args.max_pending_pairs, max_pending_bytes=args.max_pending_bytes,
        close_timeout_seconds=args.close_timeout_seconds)


def run(args: argparse.Namespace) -> int:
    """Run the sidecar until SIGTERM; exit 0 after the close."""
    import yaml
    from pydantic import ValidationError

    from stream_monitor.sidecar.mapping import SidecarMapping, load_mapping
    from stream_monitor.sidecar.server import Sidecar, serve

    options = _options(args)
    try:
        mapping = load_mapping(args.mapping) if args.mapping else SidecarMapping()
    except yaml.YAMLError as exc:
        raise ConfigError(f"{args.mapping}: not valid YAML ({type(exc).__name__})") from None
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise ConfigError(f"{args.mapping}: {where}") from None
    asyncio.run(serve(Sidecar(options, mapping)))
    return 0
