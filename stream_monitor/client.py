"""The sidecar client: serving apps log predictions, features and labels in one line.

:class:`MonitorClient` never blocks and never raises into the serving path. Each
``log_*`` call checks the event cheaply, encodes it and appends it to a bounded
in-memory queue; a background thread packs queued events into batch envelopes
(``{"kind":"batch","events":[...]}``, many events per Kafka message) and hands
them to a kafka-python producer. When the queue is full (the broker is slow or
unreachable) new events are dropped and counted; nothing is ever retried from
the caller's thread. Counters are read with :attr:`MonitorClient.stats`.

Logged messages name counts and error classes only, never an event's values.

Examples
--------
>>> client = MonitorClient("kafka:9092", "fraud-detector", "v3")  # doctest: +SKIP
>>> @client.monitor(features_from="features", score_from=lambda r: r["score"])  # doctest: +SKIP
... def predict(features: dict) -> dict:
...     return {"score": model.score(features)}
>>> with client.prediction({"amount": 12.5}) as p:  # doctest: +SKIP
...     p.score = model.score(...)
...     p.prediction = p.score >= 0.5
>>> client.log_label(p.event_id, True)  # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import inspect
import json
import logging
import math
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from stream_monitor.traffic import envelope

__all__ = ["ClientStats", "MonitorClient", "PendingPrediction"]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
_KINDS: Final = ("prediction", "feature", "label")
_SCALAR = (bool, int, float, str)
_MAX_ID: Final = 256
_ENCODE = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode


@dataclass(frozen=True)
class ClientStats:
    """Counters of one client, in events.

    ``accepted`` = ``sent`` + ``failed`` + ``pending`` + events in flight;
    ``dropped`` and ``invalid`` never entered the queue.
    """

    accepted: int
    sent: int
    dropped: int
    invalid: int
    failed: int
    pending: int


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
    max_queue
        Events held in memory at most; further events are dropped and counted.
    max_queue_bytes
        Encoded bytes held in memory at most (same policy).
    max_message_bytes
        Largest envelope sent; keep it under the worker's ``limits.max_message_bytes``.
        A single event larger than this is refused as invalid.
    producer_config
        Extra keyword arguments for :class:`kafka.KafkaProducer` (security settings).
    producer_factory
        Builds the producer; for tests. Called in the sender thread, never the caller's.

    Notes
    -----
    Events are keyed by ``model_id`` so that one model's events stay in order on
    one partition. The sender thread starts lazily on the first event (and again
    in a forked child), is a daemon, and :meth:`close` runs at interpreter exit.
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
        linger_seconds: float = 0.05,
        max_queue: int = 10_000,
        max_queue_bytes: int = 32 * 1024 * 1024,
        max_message_bytes: int = 900_000,
        producer_config: Mapping[str, Any] | None = None,
        producer_factory: Callable[[], Any] | None = None,
    ) -> None:
        for name, value in (("model_id", model_id), ("model_version", model_version)):
            if not isinstance(value, str) or not 0 < len(value) <= _MAX_ID:
                raise ValueError(f"{name} must be a non-empty string of at most {_MAX_ID} characters")
        if batch_size < 1 or max_queue < 1 or linger_seconds < 0 or max_message_bytes < 1024:
            raise ValueError("batch_size and max_queue must be >= 1, linger_seconds >= 0, max_message_bytes >= 1024")
        self.model_id = model_id
        self.model_version = model_version
        self.topics = {"prediction": predictions_topic, "feature": features_topic, "label": labels_topic}
        self.batch_size = batch_size
        self.linger_seconds = linger_seconds
        self.max_queue = max_queue
        self.max_queue_bytes = max_queue_bytes
        self.max_message_bytes = max_message_bytes
        self._key = model_id.encode()
        self._factory = producer_factory or functools.partial(
            _kafka_producer, bootstrap_servers, dict(producer_config or {})
        )
        self._cond = threading.Condition()
        self._queue: deque[tuple[str, bytes]] = deque()
        self._queue_bytes = 0
        self._counts = dict.fromkeys(("accepted", "sent", "dropped", "invalid", "failed"), 0)
        self._in_flight = 0
        self._flushing = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pid = -1
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
        timestamp: float | None = None,
        latency_ms: float | None = None,
        attributes: Mapping[str, Any] | None = None,
        model_version: str | None = None,
    ) -> str:
        """Queue one prediction event; return its ``event_id`` (generated if not given).

        ``prediction`` defaults to ``score``. Never raises; a refused event is
        counted as ``invalid``.
        """
        event_id = event_id or uuid.uuid4().hex
        if prediction is None:
            prediction = score
        event: dict[str, Any] = {"kind": "prediction", "event_id": event_id, "model_id": self.model_id,
                                 "model_version": model_version or self.model_version,
                                 "timestamp": time.time() if timestamp is None else timestamp,
                                 "prediction": prediction}
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
        self._submit(event)
        return event_id

    def log_features(
        self,
        event_id: str,
        features: Mapping[str, Any],
        *,
        timestamp: float | None = None,
        model_version: str | None = None,
    ) -> None:
        """Queue the inputs of a prediction logged without them (joined by ``event_id``)."""
        self._submit({"kind": "feature", "event_id": event_id, "model_id": self.model_id,
                      "model_version": model_version or self.model_version,
                      "timestamp": time.time() if timestamp is None else timestamp, "features": features})

    def log_label(
        self,
        event_id: str,
        label: bool | float | str,
        *,
        timestamp: float | None = None,
        model_version: str | None = None,
    ) -> None:
        """Queue the ground truth of an earlier prediction (joined by ``event_id``)."""
        self._submit({"kind": "label", "event_id": event_id, "model_id": self.model_id,
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
        extractor is counted as ``invalid`` and never affects the return value.
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
                    self._refuse(f"extractor raised {type(exc).__name__}")
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
        with self._cond:
            return ClientStats(pending=len(self._queue), **self._counts)

    def flush(self, timeout: float = 10.0) -> bool:
        """Send everything queued so far; True if all of it was acknowledged in time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                return not self._queue
            self._flushing += 1
            self._cond.notify_all()
            try:
                while self._queue or self._in_flight:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._cond.wait(min(left, 0.05))
                return True
            finally:
                self._flushing -= 1

    def close(self, timeout: float = 10.0) -> None:
        """Flush for at most ``timeout`` seconds, then stop; unsent events count as ``failed``."""
        if self._closed:
            return
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(timeout, 0.1))
        with self._cond:
            self._counts["failed"] += len(self._queue)
            self._queue.clear()
            self._queue_bytes = 0
        atexit.unregister(self.close)

    def __enter__(self) -> MonitorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ internals

    def _submit(self, event: dict[str, Any]) -> None:
        try:
            problem = _check(event)
            raw = None if problem else _ENCODE(event).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            problem, raw = f"not JSON-encodable ({type(exc).__name__})", None
        if raw is not None and len(raw) + 32 > self.max_message_bytes:
            problem = "event larger than max_message_bytes"
        if problem or raw is None:
            self._refuse(problem or "invalid")
            return
        kind = event["kind"]
        with self._cond:
            if self._closed:
                self._counts["dropped"] += 1
                return
            if len(self._queue) >= self.max_queue or self._queue_bytes + len(raw) > self.max_queue_bytes:
                self._counts["dropped"] += 1
                full = True
            else:
                self._queue.append((kind, raw))
                self._queue_bytes += len(raw)
                self._counts["accepted"] += 1
                full = False
                if len(self._queue) >= self.batch_size:
                    self._cond.notify()
            if self._pid != os.getpid():
                self._start_sender()
        if full:
            self._warn("queue_full", "monitor client queue full: events dropped (see stats)")

    def _refuse(self, why: str) -> None:
        with self._cond:
            self._counts["invalid"] += 1
        self._warn("invalid:" + why, f"monitor client refused an event: {why}")

    def _warn(self, key: str, message: str) -> None:
        """Log at most once a minute per kind of problem (no values, ever)."""
        now = time.monotonic()
        if now - self._warned.get(key, -math.inf) >= 60.0:
            self._warned[key] = now
            log.warning(message)

    def _start_sender(self) -> None:  # called with the lock held
        self._pid = os.getpid()
        self._in_flight = 0  # a forked child inherits no sender and nothing in flight
        self._thread = threading.Thread(target=self._run, name="stream-monitor-client", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        producer = None
        backoff = 0.5
        while True:
            with self._cond:
                if producer is not None:
                    self._cond.wait_for(
                        lambda: self._closed or self._flushing or len(self._queue) >= self.batch_size,
                        timeout=self.linger_seconds,
                    )
                if self._closed and (producer is None or not self._queue):
                    break
                if producer is not None:
                    batch = [self._queue.popleft() for _ in range(min(len(self._queue), self.batch_size * 4))]
                    self._queue_bytes -= sum(len(raw) for _, raw in batch)
                    self._in_flight += len(batch)
            if producer is None:
                producer = self._connect()
                if producer is None:
                    with self._cond:
                        self._cond.wait_for(lambda: self._closed, timeout=backoff)
                    backoff = min(backoff * 2, 30.0)
                continue
            self._send(producer, batch)
        if producer is not None:
            with contextlib.suppress(Exception):  # closing a broken producer must not fail
                producer.close(timeout=1.0)

    def _connect(self) -> Any:
        try:
            return self._factory()
        except Exception as exc:  # noqa: BLE001 - unreachable brokers are retried with backoff
            self._warn("connect", f"monitor client cannot create its Kafka producer ({type(exc).__name__}); retrying")
            return None

    def _send(self, producer: Any, batch: list[tuple[str, bytes]]) -> None:
        for kind in _KINDS:
            raws = [raw for k, raw in batch if k == kind]
            for chunk in self._envelopes(raws):
                n = len(chunk)
                try:
                    future = producer.send(self.topics[kind], key=self._key, value=envelope(chunk))
                    future.add_callback(self._done, n, "sent")
                    future.add_errback(self._failed, n)
                except Exception as exc:  # noqa: BLE001 - counted, never raised
                    self._failed(n, exc)

    def _envelopes(self, raws: list[bytes]) -> Iterator[list[bytes]]:
        chunk: list[bytes] = []
        size = 32
        for raw in raws:
            if chunk and (len(chunk) >= self.batch_size or size + len(raw) + 1 > self.max_message_bytes):
                yield chunk
                chunk, size = [], 32
            chunk.append(raw)
            size += len(raw) + 1
        if chunk:
            yield chunk

    def _done(self, n: int, counter: str, *_: object) -> None:
        with self._cond:
            self._counts[counter] += n
            self._in_flight -= n
            self._cond.notify_all()

    def _failed(self, n: int, exc: BaseException) -> None:
        self._warn("send", f"monitor client failed to send {n} events ({type(exc).__name__})")
        self._done(n, "failed")


def _check(event: dict[str, Any]) -> str | None:
    """Cheap structural checks of what the worker would refuse; the worker validates fully."""
    eid = event["event_id"]
    if not isinstance(eid, str) or not 0 < len(eid) <= _MAX_ID:
        return "event_id must be a non-empty string"
    version = event["model_version"]
    if not isinstance(version, str) or not 0 < len(version) <= _MAX_ID:
        return "model_version must be a non-empty string"
    ts = event["timestamp"]
    if isinstance(ts, bool) or not isinstance(ts, int | float | str):
        return "timestamp must be epoch seconds or RFC 3339"
    for name in ("features", "attributes", "scores"):
        value = event.get(name)
        if value is not None and not isinstance(value, Mapping):
            return f"{name} must be a mapping"
    for name in ("prediction", "label"):
        if name in event and not isinstance(event[name], _SCALAR):
            return f"{name} must be a bool, number or string"
    score = event.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1):
        return "score must be a probability in [0, 1]"
    latency = event.get("latency_ms")
    if latency is not None and not latency >= 0:
        return "latency_ms must be >= 0"
    return None


def _kafka_producer(bootstrap_servers: str, config: dict[str, Any]) -> Any:
    from kafka import KafkaProducer

    settings: dict[str, Any] = {
        "acks": "all",
        "linger_ms": 5,
        "max_block_ms": 5000,  # the sender thread, not the caller, would block
        "max_request_size": 4 * 1024 * 1024,
        "client_id": "stream-monitor-client",
    }
    settings.update(config)
    return KafkaProducer(bootstrap_servers=bootstrap_servers, **settings)
