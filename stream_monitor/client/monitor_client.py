"""The sidecar client's API: :class:`MonitorClient` and the ``with client.prediction(...)`` block.

The ``log_*`` calls, the block and the decorator build events;
:class:`~stream_monitor.client.core.ClientCore` validates, encodes and delivers them.
"""

from __future__ import annotations

import functools
import inspect
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from stream_monitor.client.core import ClientCore

__all__ = ["MonitorClient", "PendingPrediction"]

F = TypeVar("F", bound=Callable[..., Any])


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


class MonitorClient(ClientCore):
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
