"""The client's sender: a daemon thread with its own asyncio loop and one aiokafka producer.

It takes queued events from the :class:`~stream_monitor.client.buffer.Buffer`
in envelopes, hands them to the producer and settles each envelope when the
broker acknowledges it (or the producer gives up on it). Events stay counted in
the buffer's budget until then, so the producer never holds more than the
budget either.

The producer is built, and its errors named, in
:mod:`stream_monitor.client.producer`. The loop is private to this thread and its
exception handler logs one line (error classes only) instead of a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic_core import from_json

from stream_monitor.client.buffer import Buffer, Envelope
from stream_monitor.client.producer import THREAD_NAME, ClientClosed, drop_reason, quiet_aiokafka
from stream_monitor.events.envelope import encode_columns, encode_rows

__all__ = ["Sender"]

log = logging.getLogger("stream_monitor.client")

class Sender:
    """Moves envelopes from a buffer to Kafka on a daemon thread.

    Parameters
    ----------
    buffer
        Where events wait; settled envelopes free its budget.
    topics
        Topic per event kind.
    key
        Record key of every message (the model id: one model's events stay in order).
    factory
        Builds the producer (an object with async ``start``, ``send`` and ``stop``);
        called in the sender's loop.
    batch_size, max_message_bytes
        Events and bytes per envelope at most.
    linger_seconds
        How long to wait for a full envelope before sending a partial one.
    columnar
        Send columnar envelopes (row envelopes when the events cannot share one,
        or when the columnar one would exceed ``max_message_bytes``).
    """

    def __init__(
        self,
        buffer: Buffer,
        topics: Mapping[str, str],
        key: bytes,
        factory: Callable[[], Any],
        *,
        batch_size: int,
        max_message_bytes: int,
        linger_seconds: float,
        columnar: bool = True,
    ) -> None:
        self.buffer = buffer
        self.columnar = columnar
        self.topics = dict(topics)
        self.key = key
        self.factory = factory
        self.batch_size = batch_size
        self.max_message_bytes = max_message_bytes
        self.linger_seconds = linger_seconds
        self.urgent = 0  # callers flushing or closing: send without lingering (changed under buffer.cond)
        self._stopping = False
        self._stop_seconds = 1.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._producer: Any = None
        self._warned: dict[str, float] = {}
        self.thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)

    def start(self) -> None:
        quiet_aiokafka()
        self.thread.start()

    def wake(self) -> None:
        """Cut the current linger short (thread-safe, cheap when the loop is not up)."""
        loop, event = self._loop, self._wake
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                loop.call_soon_threadsafe(event.set)

    def stop(self, timeout: float) -> bool:
        """Abandon what the producer still holds, close it, and join; True if the thread ended in time."""
        self._stopping = True
        self._stop_seconds = max(timeout * 0.8, 0.05)
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                loop.call_soon_threadsafe(self._cancel_pump)
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(max(timeout, 0.05))
        return not self.thread.is_alive()

    # ------------------------------------------------------------ the thread

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # noqa: BLE001 - counted by close(); never a traceback from a daemon
            log.warning("monitor client sender stopped (%s)", type(exc).__name__)

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, ClientClosed):
            return  # a batch the client abandoned at close: already counted
        what = type(exc).__name__ if exc is not None else str(context.get("message", "error"))[:80]
        self._warn("loop:" + what, f"monitor client producer reported {what}")

    def _warn(self, key: str, message: str) -> None:
        now = time.monotonic()  # once a minute per kind of problem: no log flood during an outage
        if now - self._warned.get(key, -math.inf) >= 60.0:
            self._warned[key] = now
            log.warning(message)

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._on_loop_error)
        self._wake = asyncio.Event()
        self._pump_task = asyncio.create_task(self._pump())
        self._loop = loop
        if self._stopping:  # stop() came before the loop was up
            self._pump_task.cancel()
        try:
            await self._pump_task
        except asyncio.CancelledError:
            pass  # stop(): the client has flushed what it could
        finally:
            self._loop = None
            if self._producer is not None:
                await self._shutdown(self._producer)

    async def _pump(self) -> None:
        backoff = 0.2
        while not self._stopping:
            if self._producer is None:
                self._producer = await self._connect()
                if self._producer is None:
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
            if self.buffer.queued < self.batch_size and not self.urgent:
                await self._sleep(self.linger_seconds)
            envelopes = self.buffer.take(self.batch_size * 4, self.batch_size, self.max_message_bytes)
            if not envelopes and self.urgent:
                await self._sleep(self.linger_seconds)  # flushing with nothing queued: acks are awaited
            for env in envelopes:
                await self._send(self._producer, env)

    def _cancel_pump(self) -> None:
        if self._pump_task is not None:
            self._pump_task.cancel()

    async def _sleep(self, seconds: float) -> None:
        assert self._wake is not None
        if not self._wake.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def _connect(self) -> Any:
        producer = None
        try:
            producer = self.factory()
            await producer.start()
        except BaseException as exc:  # noqa: BLE001 - unreachable brokers are retried with backoff
            if producer is not None:  # a half-started producer is stopped, or it warns when collected
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(producer.stop(), 1.0)
            if not isinstance(exc, Exception):
                raise
            self._warn("connect", f"monitor client cannot start its Kafka producer ({type(exc).__name__}); retrying")
            return None
        return producer

    async def _send(self, producer: Any, env: Envelope) -> None:
        value = self._encode(env)
        env.events = []  # the producer holds the bytes now; the envelope keeps its counts
        try:
            future = await producer.send(self.topics[env.kind], value, key=self.key)
        except Exception as exc:  # noqa: BLE001 - counted, never raised
            self._failed(env, exc)
            return
        future.add_done_callback(functools.partial(self._done, env))

    def _encode(self, env: Envelope) -> bytes:
        """The record value of ``env``: columnar when asked and possible, else a row envelope."""
        if self.columnar:
            # The queue holds encoded bytes only (its byte budget is the client's memory bound);
            # the envelope's events are read back here, in Rust, to be written as columns.
            try:
                value = encode_columns([from_json(raw) for raw in env.events])
            except (TypeError, ValueError) as exc:  # never expected: the client encoded these events
                self._warn("encode", f"monitor client sends rows ({type(exc).__name__} in columnar encoding)")
                value = None
            if value is not None and len(value) <= self.max_message_bytes:
                return value
        return encode_rows(env.events)

    def _done(self, env: Envelope, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            self.buffer.settle(env, "closed")
            return
        exc = future.exception()
        if exc is None:
            self.buffer.settle(env, None)
        else:
            self._failed(env, exc)

    def _failed(self, env: Envelope, exc: BaseException) -> None:
        reason = drop_reason(exc)
        if reason != "closed":
            self._warn("send:" + reason, f"monitor client dropped envelopes ({reason}, {type(exc).__name__})")
        self.buffer.settle(env, reason)

    async def _shutdown(self, producer: Any) -> None:
        """Give up on what the producer still holds (its envelopes count as ``closed``), then stop it."""
        accumulator = getattr(producer, "_message_accumulator", None)
        if accumulator is not None and hasattr(accumulator, "fail_all"):
            accumulator.fail_all(ClientClosed())  # aiokafka's stop() would otherwise wait for every batch
        try:
            await asyncio.wait_for(producer.stop(), self._stop_seconds)
        except Exception as exc:  # noqa: BLE001 - a broken producer must not fail close()
            # A batch failed while its request was in flight makes aiokafka's sender task end with an
            # error when it is cancelled, before stop() closes the connections: close them here.
            log.debug("monitor client producer stop raised %s", type(exc).__name__)
            client = getattr(producer, "client", None)
            if client is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.close(), 1.0)
