"""The sidecar client's API: :class:`MonitorClient` and the ``with client.prediction(...)`` block."""

from __future__ import annotations

import atexit
import functools
import inspect
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError

from stream_monitor.client.buffer import ENVELOPE_FRAMING, Buffer, ClientStats, DropReason
from stream_monitor.client.sender import Sender, kafka_producer
from stream_monitor.events.models import MAX_BATCH_EVENTS, FeatureEvent, LabelEvent, PredictionEvent

__all__ = ["MonitorClient", "PendingPrediction"]

log = logging.getLogger("stream_monitor.client")

F = TypeVar("F", bound=Callable[..., Any])
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


@dataclass
class PendingPrediction:
    """What the ``with client.prediction(...)`` block fills in.

    Set ``score`` and/or ``prediction`` (``prediction`` defaults to ``score``);
    ``event_id`` is assigned up front so it can be returned to the caller and
    used later in :meth:`MonitorClient.log_label`.
    """

    features: Mapping[str, Any] | None
    event_id: str
    prediction: Any = None
    score: float | None = None
    scores: Mapping[str, float] | None = None
    attributes: Mapping[str, Any] | None = None
    skip: bool = False
    started: float = field(default_factory=time.perf_counter)


class MonitorClient:
    """Send prediction, feature and label events to stream-monitor's topics.

    Every event the application logs ends up either delivered (acknowledged by
    the broker) or counted as dropped with a reason; :attr:`stats` reads the
    counters and ``stats.sent == stats.delivered + stats.dropped + stats.pending``
    at every moment (``pending`` is 0 after :meth:`close`).

    Parameters
    ----------
    bootstrap_servers
        Kafka bootstrap servers, ``host:port[,host:port]``.
    model_id, model_version
        Stamped on every event (``model_version`` can be overridden per call).
    predictions_topic, features_topic, labels_topic
        The topics the worker reads (its ``topics`` configuration).
    batch_size
        Events per Kafka message at most (one batch envelope).
    linger_seconds
        How long the sender waits for a batch to fill before sending it anyway.
    max_queue, max_queue_bytes
        Events and encoded bytes held at most, queued or handed to the producer and
        not yet acknowledged: the client's memory for events, whatever the broker does.
    block, block_timeout_seconds
        With ``block=True`` a ``log_*`` call waits up to ``block_timeout_seconds`` for
        room in a full buffer before dropping (backpressure: latency instead of loss).
        By default it never waits.
    max_message_bytes
        Largest envelope sent; keep it under the worker's ``limits.max_message_bytes``
        and the broker's ``message.max.bytes``. A larger single event is dropped as ``too_large``.
    delivery_timeout_seconds
        How long an envelope may wait for the broker's acknowledgement before it is
        dropped as ``timeout`` (the producer's request timeout).
    producer_config
        Extra keyword arguments for :class:`aiokafka.AIOKafkaProducer` (security:
        ``security_protocol``, ``ssl_context``, ``sasl_mechanism``, ...; ``compression_type``).
    producer_factory
        Builds the producer; for tests. Called in the sender's thread and event loop.
    columnar
        Send each batch as a columnar envelope (the default: about half the bytes and
        a fraction of the worker's decoding cost); ``False`` sends row envelopes. Events
        that cannot share a columnar envelope (per-class ``scores``, several versions
        in one batch) travel as rows either way.

    Notes
    -----
    Events are keyed by ``model_id`` so that one model's events stay in order on
    one partition. The sender thread starts lazily on the first event (and again
    in a forked child, which starts with empty counters), is a daemon, and
    :meth:`close` runs at interpreter exit.
    """

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
        for name, value in (("model_id", model_id), ("model_version", model_version)):
            if not isinstance(value, str) or not 0 < len(value) <= _MAX_ID:
                raise ValueError(f"{name} must be a non-empty string of at most {_MAX_ID} characters")
        if not 1 <= batch_size <= MAX_BATCH_EVENTS:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_EVENTS}")
        if max_queue < 1 or max_queue_bytes < 1 or linger_seconds < 0 or max_message_bytes < 1024:
            raise ValueError("max_queue and max_queue_bytes must be >= 1, linger_seconds >= 0, "
                             "max_message_bytes >= 1024")
        if block_timeout_seconds < 0 or delivery_timeout_seconds <= 0:
            raise ValueError("block_timeout_seconds must be >= 0 and delivery_timeout_seconds > 0")
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
        settings: dict[str, Any] = {
            "acks": "all",
            "enable_idempotence": False,  # not offered by every Kafka-protocol broker
            "linger_ms": 0,  # the client lingers itself, per envelope
            "max_batch_size": max_message_bytes + 1024,
            "max_request_size": max(2 * max_message_bytes, 1 << 20),
            "request_timeout_ms": int(delivery_timeout_seconds * 1000),
            "client_id": "stream-monitor-client",
            **(producer_config or {}),
        }
        self._factory = producer_factory or functools.partial(kafka_producer, bootstrap_servers, settings)
        self._buffer = Buffer(max_queue, max_queue_bytes)
        self._sender: Sender | None = None
        self._start_lock = threading.Lock()
        self._pid = -1
        self._closed = False
        self._warned: dict[str, float] = {}
        atexit.register(self.close, 2.0)

    # ------------------------------------------------------------------ API

    def log_prediction(
        self,
        prediction: bool | float | str | None = None,
        *,
        features: Mapping[str, Any] | None = None,
        score: float | None = None,
        scores: Mapping[str, float] | None = None,
        event_id: str | None = None,
        timestamp: float | str | None = None,
        latency_ms: float | None = None,
        attributes: Mapping[str, Any] | None = None,
        model_version: str | None = None,
    ) -> str:
        """Log one prediction event; return its ``event_id`` (generated if not given).

        ``prediction`` defaults to ``score``. Never raises; a refused event is
        counted as dropped (``invalid`` or ``too_large``).
        """
        event_id = event_id or uuid.uuid4().hex
        event: dict[str, Any] = {"kind": "prediction", "event_id": event_id, "model_id": self.model_id,
                                 "model_version": model_version or self.model_version,
                                 "timestamp": time.time() if timestamp is None else timestamp,
                                 "prediction": score if prediction is None else prediction}
        if features is not None:
            event["features"] = features
        if score is not None:
            event["score"] = score
        if scores is not None:
            event["scores"] = scores
        if latency_ms is not None:
            event["latency_ms"] = latency_ms
        if attributes is not None:
            event["attributes"] = attributes
        self._submit("prediction", event)
        return event_id

    def log_features(
        self,
        event_id: str,
        features: Mapping[str, Any],
        *,
        timestamp: float | str | None = None,
        model_version: str | None = None,
    ) -> None:
        """Log the inputs of a prediction logged without them (joined by ``event_id``)."""
        self._submit("feature", {"kind": "feature", "event_id": event_id, "model_id": self.model_id,
                                 "model_version": model_version or self.model_version,
                                 "timestamp": time.time() if timestamp is None else timestamp,
                                 "features": features})

    def log_label(
        self,
        event_id: str,
        label: bool | float | str,
        *,
        timestamp: float | str | None = None,
        model_version: str | None = None,
    ) -> None:
        """Log the ground truth of an earlier prediction (joined by ``event_id``)."""
        self._submit("label", {"kind": "label", "event_id": event_id, "model_id": self.model_id,
                               "model_version": model_version or self.model_version,
                               "timestamp": time.time() if timestamp is None else timestamp, "label": label})

    @contextmanager
    def prediction(
        self, features: Mapping[str, Any] | None = None, *, event_id: str | None = None
    ) -> Iterator[PendingPrediction]:
        """Log the prediction made inside the block, with its latency.

        An exception raised in the block propagates unchanged and nothing is
        logged; so is a block that sets ``p.skip = True`` or neither
        ``prediction`` nor ``score``.
        """
        p = PendingPrediction(features, event_id or uuid.uuid4().hex)
        yield p
        if p.skip or (p.prediction is None and p.score is None):
            return
        self.log_prediction(p.prediction, features=p.features, score=p.score, scores=p.scores,
                            event_id=p.event_id, attributes=p.attributes,
                            latency_ms=(time.perf_counter() - p.started) * 1000.0)

    def monitor(
        self,
        *,
        features_from: str | Callable[..., Mapping[str, Any] | None] | None = None,
        prediction_from: Callable[[Any], Any] | None = None,
        score_from: Callable[[Any], float | None] | None = None,
    ) -> Callable[[F], F]:
        """Decorate a predict function (sync or async) to log each call's prediction.

        Parameters
        ----------
        features_from
            The name of the argument holding the feature mapping, or a callable
            receiving the function's arguments and returning it.
        prediction_from, score_from
            Callables extracting the prediction and the score from the return
            value. Without either, the return value itself is the prediction.

        The function's own exceptions propagate and are not logged; a failing
        extractor counts the event as dropped (``invalid``) and never affects the
        return value.
        """

        def decorate(fn: F) -> F:
            sig = inspect.signature(fn)

            def record(args: tuple[Any, ...], kwargs: dict[str, Any], result: Any, started: float) -> None:
                try:
                    if isinstance(features_from, str):
                        features = sig.bind_partial(*args, **kwargs).arguments.get(features_from)
                    else:
                        features = features_from(*args, **kwargs) if features_from else None
                    score = score_from(result) if score_from else None
                    pred = prediction_from(result) if prediction_from else (None if score_from else result)
                except Exception as exc:  # noqa: BLE001 - never raise into the serving path
                    self._refuse("invalid", f"extractor raised {type(exc).__name__}")
                    return
                self.log_prediction(pred, features=features, score=score,
                                    latency_ms=(time.perf_counter() - started) * 1000.0)

            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    started = time.perf_counter()
                    result = await fn(*args, **kwargs)
                    record(args, kwargs, result, started)
                    return result

                return async_wrapper  # type: ignore[return-value]

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                result = fn(*args, **kwargs)
                record(args, kwargs, result, started)
                return result

            return wrapper  # type: ignore[return-value]

        return decorate

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

    def __enter__(self) -> MonitorClient:
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
