"""The retrain consumer kit: act on every retrain request at least once.

* :class:`RetrainRequests` -- a Python iterator over requests;
* :class:`RetrainListener` with :class:`ExecHandler` -- ``stream-monitor
  retrain-listen --exec CMD``;
* :class:`DedupStore` -- the on-disk record of resolved request ids.

Semantics (at-least-once, dedup, superseding, retries, dead letters) are in
``docs/retrain-consumer.md`` and the module docstrings of ``plan`` and ``engine``.
"""

from stream_monitor.retrain.engine import StopListening
from stream_monitor.retrain.handlers import Delivery, ExecHandler, HandlerFailed
from stream_monitor.retrain.iterator import RetrainRequests
from stream_monitor.retrain.listener import RetrainListener
from stream_monitor.retrain.options import ListenOptions, ListenStats
from stream_monitor.retrain.store import DedupStore

__all__ = [
    "DedupStore",
    "Delivery",
    "ExecHandler",
    "HandlerFailed",
    "ListenOptions",
    "ListenStats",
    "RetrainListener",
    "RetrainRequests",
    "StopListening",
]
