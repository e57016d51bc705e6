"""The ``stream-monitor`` command line.

Commands: ``run`` (the worker), ``broker`` (the embedded broker),
``validate-config``, ``reference build``, ``simulate``, ``backtest``,
``schemas``, ``demo``, ``retrain-listen`` and ``sidecar``. Each tool that talks to Kafka takes
``--bootstrap-servers``. The commands live in :mod:`stream_monitor.commands`
(``serve``: run, broker; ``batch``: the one-job commands), the sidecar's and
the retrain listener's in their packages; this module parses and dispatches.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from stream_monitor import __version__
from stream_monitor.commands import batch, serve
from stream_monitor.commands.batch import first_line
from stream_monitor.commands.serve import OperatorError
from stream_monitor.errors import BrokerConnectError, ConfigError, ReferenceError_

__all__ = ["main"]


def cmd_sidecar(args: argparse.Namespace) -> int:
    from stream_monitor.sidecar.command import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stream-monitor", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=__version__)
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                   help="log level of the command (default: %(default)s)")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = p.add_subparsers(dest="command", required=True)

    serve.add_parsers(sub)
    batch.add_parsers(sub)

    from stream_monitor.retrain.command import add_parser as add_retrain_listen
    from stream_monitor.sidecar.command import add_arguments

    add_retrain_listen(sub)

    side = sub.add_parser("sidecar", help="HTTP sidecar: events and KServe inference-logger CloudEvents to Kafka")
    add_arguments(side)
    side.set_defaults(func=cmd_sidecar)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command. Operator errors (configuration, files, ports, the broker) print
    what is wrong and how to fix it, without a traceback (``--debug`` shows it), and
    exit 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.log_level != "debug":  # client libraries are chatty at INFO
        for name in ("kafka", "aiokafka"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except (ConfigError, ReferenceError_, BrokerConnectError, OperatorError, OSError) as exc:
        if args.debug:
            raise
        if isinstance(exc, ConfigError):
            message = str(exc)  # one line per error, each with its location
        elif isinstance(exc, FileNotFoundError):
            message = f"{exc.filename}: file not found"
        elif isinstance(exc, OSError) and exc.filename is not None:
            message = f"{exc.filename}: {exc.strerror}"
        else:
            message = first_line(exc)
        print(f"stream-monitor: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
