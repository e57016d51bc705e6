"""stream-monitor: Kafka-native monitoring for machine-learning models in production.

Nothing runs at import. The pure core (events, validation, windows, detectors,
decisions, monitor) is importable without faust, aiokafka or prometheus_client.

The Python API is loaded on first use: ``stream_monitor.compare`` (a DataFrame
against a reference) and ``stream_monitor.Monitor`` (events fed in a loop), from
:mod:`stream_monitor.api`. The core's record-level monitor stays
:class:`stream_monitor.pipeline.monitor.Monitor`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Comparison", "Monitor", "__version__", "compare"]

if TYPE_CHECKING:
    from stream_monitor.api import Comparison, Monitor, compare

_API = frozenset({"Comparison", "Monitor", "compare"})


def __getattr__(name: str) -> Any:
    # Lazy: `import stream_monitor` (the CLI, the worker) does not load numpy and the core.
    if name in _API:
        from stream_monitor import api

        return getattr(api, name)
    raise AttributeError(f"module 'stream_monitor' has no attribute {name!r}")
