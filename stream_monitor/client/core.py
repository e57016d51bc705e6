"""What every event the client logs goes through: validation, encoding, the buffer, the sender.

:class:`ClientCore` holds the delivery side of
:class:`~stream_monitor.client.monitor_client.MonitorClient`: its limits, the
bounded :class:`~stream_monitor.client.buffer.Buffer`, the
:class:`~stream_monitor.client.sender.Sender` thread started on the first event
(and again in a forked child), ``flush``, ``close`` and the counters. An event is
refused with a reason (counted, never raised) and the warnings name field names
and error types only, never values.
"""

from __future__ import annotations

import atexit
import functools
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, Self

from pydantic import BaseModel, ValidationError

from stream_monitor.client.buffer import ENVELOPE_FRAMING, Buffer, ClientStats, DropReason
from stream_monitor.client.producer import kafka_producer
from stream_monitor.client.sender import Sender
from stream_monitor.events.models import MAX_BATCH_EVENTS, FeatureEvent, LabelEvent, PredictionEvent

__all__ = ["ClientCore"]

log = logging.getLogger("stream_monitor.client")

_MAX_ID: Final = 256
_MODELS: Final[dict[str, type[BaseModel]]] = {
    "prediction": PredictionEvent, "feature": FeatureEvent, "label": LabelEvent}
# The worker's own event models check and encode each event: what the client sends is what
# the worker accepts. It is also cheaper than json.dumps plus hand-written checks: 13 us against
# 18 us per benchmark event (25 features), measured on the same idle machine.
_VALIDATE: Final = {kind: model.__pydantic_validator__.validate_python for kind, model in _MODELS.items()}
_ENCODE: Final = {kind: model.__pydantic_serializer__.to_json for kind, model in _MODELS.items()}
# Names that may appear in a refusal message; any other path element (a feature name) reads "*".
_SAFE_LOC: Final = frozenset(name for model in _MODELS.values() for name in model.model_fields)


class ClientCore:
    """The delivery side of the client; see :class:`~stream_monitor.client.monitor_client.MonitorClient`
    for its parameters and guarantees."""

    def __init__(
        self,
        bootstrap_servers: str,
        model_id: str,
        model_version: str,
        *,
        predictions_topic: str = "model-predictions",
        features_topic: str = "model-features",
        labels_topic: str = "model-labels",
        batch_size: int = 500,
        linger_seconds: float = 0.02,
        max_queue: int = 20_000,
        max_queue_bytes: int = 16 * 1024 * 1024,
        block: bool = False,
        block_timeout_seconds: float = 1.0,
        max_message_bytes: int = 900_000,
        delivery_timeout_seconds: float = 30.0,
        producer_config: Mapping[str, Any] | None = None,
        producer_factory: Callable[[], Any] | None = None,
        columnar: bool = True,
    ) -> None:
        _check_ids(model_id, model_version)
        _check_bounds(batch_size, linger_seconds, max_queue, max_queue_bytes, max_message_bytes,
                      block_timeout_seconds, delivery_timeout_seconds)
        self.model_id = model_id
        self.model_version = model_version
        self.topics = {"prediction": predictions_topic, "feature": features_topic, "label": labels_topic}
        self.batch_size = batch_size
        self.linger_seconds = linger_seconds
        self.max_queue = max_queue
        self.max_queue_bytes = max_queue_bytes
        self.max_message_bytes = max_message_bytes
        self.block_seconds = block_timeout_seconds if block else 0.0
        self.columnar = columnar
        settings = _producer_settings(max_message_bytes, delivery_timeout_seconds, producer_config)
        self._factory = producer_factory or functools.partial(kafka_producer, bootstrap_servers, settings)
        self._buffer = Buffer(max_queue, max_queue_bytes)
        self._sender: Sender | None = None
        self._start_lock = threading.Lock()
        self._pid = -1
        self._closed = False
        self._warned: dict[str, float] = {}
        atexit.register(self.close, 2.0)

    @property
    def stats(self) -> ClientStats:
        """A consistent copy of the counters."""
        return self._buffer.stats()

    def flush(self, timeout: float = 10.0) -> bool:
        """Send everything held now without lingering; True if nothing is pending any more
        (delivered or dropped: see :attr:`stats`) within ``timeout`` seconds."""
        sender = self._sender
        if sender is None or not sender.thread.is_alive():
            return self._buffer.stats().pending == 0
        with self._buffer.cond:
            sender.urgent += 1
        try:
            sender.wake()
            return self._buffer.wait_empty(timeout)
        finally:
            with self._buffer.cond:
                sender.urgent -= 1

    def close(self, timeout: float = 5.0) -> None:
        """Stop within ``timeout`` seconds: send what the broker acknowledges by then, count
        the rest as dropped (``closed``). Events logged afterwards are dropped (``closed``)."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + max(timeout, 0.0)
        self._buffer.close()
        sender = self._sender
        if sender is not None and self._pid == os.getpid():
            # Most of the time flushes; the rest stops the producer, which abandons what it still holds.
            self.flush(max(timeout - min(1.0, timeout * 0.25), 0.0))
            sender.stop(max(deadline - time.monotonic(), 0.05))
        self._buffer.abandon()
        atexit.unregister(self.close)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ internals

    def _submit(self, kind: str, event: dict[str, Any]) -> None:
        if self._buffer.full and not self.block_seconds:
            # Dropped before it costs validation and encoding: an outage must not slow the app down.
            self._buffer.refuse("buffer_full")
            self._warn("buffer_full", "monitor client buffer full: events dropped (see stats)")
            return
        try:
            raw = _ENCODE[kind](_VALIDATE[kind](event), exclude_unset=True)
        except ValidationError as exc:
            self._refuse("invalid", _describe(exc))
            return
        except (TypeError, ValueError, RecursionError) as exc:
            self._refuse("invalid", f"not encodable ({type(exc).__name__})")
            return
        if len(raw) + ENVELOPE_FRAMING > self.max_message_bytes:
            self._refuse("too_large", "event larger than max_message_bytes")
            return
        if self._pid != os.getpid() and not self._closed:
            self._start()
        reason = self._buffer.put(kind, raw, self.block_seconds)
        if reason is None:
            if self._buffer.queued == self.batch_size and self._sender is not None:
                self._sender.wake()
        elif reason == "buffer_full":
            self._warn("buffer_full", "monitor client buffer full: events dropped (see stats)")

    def _start(self) -> None:
        """Start the sender: on the first event, and in a forked child (whose copy of the
        parent's buffer holds the parent's events and counters, which are not its own)."""
        with self._start_lock:
            if self._pid == os.getpid():
                return
            if self._pid != -1:
                self._buffer = Buffer(self.max_queue, self.max_queue_bytes)
            self._sender = Sender(self._buffer, self.topics, self.model_id.encode(), self._factory,
                                  batch_size=self.batch_size, max_message_bytes=self.max_message_bytes,
                                  linger_seconds=self.linger_seconds, columnar=self.columnar)
            self._sender.start()
            self._pid = os.getpid()

    def _refuse(self, reason: DropReason, why: str) -> None:
        self._buffer.refuse(reason)
        self._warn(f"{reason}:{why}", f"monitor client refused an event: {why}")

    def _warn(self, key: str, message: str) -> None:
        """Log at most once a minute per kind of problem (no values, ever)."""
        now = time.monotonic()
        if now - self._warned.get(key, -math.inf) >= 60.0:
            self._warned[key] = now
            log.warning(message)


def _describe(exc: ValidationError) -> str:
    """Field names and error types of a refused event, never its values or feature names."""
    seen: dict[str, str] = {}
    for e in exc.errors(include_input=False, include_url=False, include_context=False):
        loc = ".".join(str(p) if isinstance(p, int) or p in _SAFE_LOC else "*" for p in e["loc"][:2])
        if loc not in seen or (seen[loc].endswith("_type") and not e["type"].endswith("_type")):
            seen[loc] = e["type"]
    return "; ".join(f"{loc or '$'}: {typ}" for loc, typ in list(seen.items())[:3])


def _check_ids(model_id: str, model_version: str) -> None:
    for name, value in (("model_id", model_id), ("model_version", model_version)):
        if not isinstance(value, str) or not 0 < len(value) <= _MAX_ID:
            raise ValueError(f"{name} must be a non-empty string of at most {_MAX_ID} characters")


def _check_bounds(batch_size: int, linger_seconds: float, max_queue: int, max_queue_bytes: int,
                  max_message_bytes: int, block_timeout_seconds: float, delivery_timeout_seconds: float) -> None:
    if not 1 <= batch_size <= MAX_BATCH_EVENTS:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_EVENTS}")
    if max_queue < 1 or max_queue_bytes < 1 or linger_seconds < 0 or max_message_bytes < 1024:
        raise ValueError("max_queue and max_queue_bytes must be >= 1, linger_seconds >= 0, "
                         "max_message_bytes >= 1024")
    if block_timeout_seconds < 0 or delivery_timeout_seconds <= 0:
        raise ValueError("block_timeout_seconds must be >= 0 and delivery_timeout_seconds > 0")


def _producer_settings(max_message_bytes: int, delivery_timeout_seconds: float,
                       producer_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The Kafka producer's settings; ``producer_config`` overrides any of them."""
    return {
        "acks": "all",
        "enable_idempotence": False,  # not offered by every Kafka-protocol broker
        "linger_ms": 0,  # the client lingers itself, per envelope
        "max_batch_size": max_message_bytes + 1024,
        "max_request_size": max(2 * max_message_bytes, 1 << 20),
        "request_timeout_ms": int(delivery_timeout_seconds * 1000),
        "client_id": "stream-monitor-client",
        **(producer_config or {}),
    }
