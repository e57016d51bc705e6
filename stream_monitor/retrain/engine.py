"""Carry out a batch's steps: handle with retries, dead-letter, record, commit.

For each record, in offset order, the resolution is on disk (the dedup store)
before its offset is committed, and the offset is committed only after the
record is resolved. So a crash at any point re-delivers at most the records
whose commit was lost, and the store skips those already resolved.

Superseded requests are recorded first, as the batch starts. Stopping (SIGTERM)
between records leaves the rest uncommitted; a handler still running when the
stop comes gets ``shutdown_grace_seconds`` to finish and is then cancelled
(:class:`~stream_monitor.retrain.handlers.ExecHandler` terminates its command),
and its request is not resolved: it is handled again after the restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence

from stream_monitor.retrain.handlers import Delivery, Handler, HandlerFailed
from stream_monitor.retrain.options import ListenOptions, ListenStats
from stream_monitor.retrain.plan import Handle, Incoming, Poison, Skip, Step, Superseded
from stream_monitor.retrain.store import DedupStore
from stream_monitor.sinks.topics import HEADER_PREFIX, MAX_EXTRA_BYTES

__all__ = ["MAX_DEAD_LETTER_VALUE_BYTES", "Engine", "StopListening", "dead_letter_headers"]

log = logging.getLogger("stream_monitor.retrain")

Publish = Callable[[str, bytes | None, bytes | None, list[tuple[str, bytes]]], Awaitable[None]]
Commit = Callable[[Incoming], Awaitable[None]]

# The producer's default request limit is 1 MiB; a longer value is cut (with its size and
# SHA-256 in headers, as the worker's dead letters) so the dead letter always fits.
MAX_DEAD_LETTER_VALUE_BYTES = 768 * 1024


class StopListening(Exception):  # noqa: N818 - a request to stop, not an error
    """Raised by a handler to stop the listener, leaving its request unresolved."""


def dead_letter_headers(record: Incoming, reason: str, message: str, request_id: str | None,
                        attempts: int = 0) -> list[tuple[str, bytes]]:
    """The record's own headers, then the ``stream-monitor.`` context (as the worker's dead letters)."""
    headers = [h for h in record.headers if not h[0].startswith(HEADER_PREFIX)]
    headers += [
        (HEADER_PREFIX + "reason", reason.encode()),
        (HEADER_PREFIX + "message", message.encode()),
        (HEADER_PREFIX + "topic", record.topic.encode()),
        (HEADER_PREFIX + "partition", str(record.partition).encode()),
        (HEADER_PREFIX + "offset", str(record.offset).encode()),
        (HEADER_PREFIX + "schema", b"1"),
    ]
    if request_id is not None:
        headers.append((HEADER_PREFIX + "request_id", request_id.encode()))
    if attempts:
        headers.append((HEADER_PREFIX + "attempts", str(attempts).encode()))
    return headers


class Engine:
    def __init__(self, options: ListenOptions, handler: Handler, store: DedupStore, publish: Publish,
                 commit: Commit, stats: ListenStats | None = None) -> None:
        self.options = options
        self.handler = handler
        self.store = store
        self.publish = publish
        self.commit = commit
        self.stats = stats or ListenStats()
        self.stopping = asyncio.Event()

    async def execute(self, steps: Sequence[Step]) -> bool:
        """Carry out ``steps``; False when stopped before the end (the rest stays uncommitted)."""
        superseded = [s for s in steps if isinstance(s, Superseded)]
        self.store.resolve_many([(s.request_id, "superseded", s.by) for s in superseded])
        for s in superseded:
            self.stats.superseded += 1
            log.info("request %s superseded by %s before it was handled", s.request_id, s.by)
        for step in steps:
            if self.stopping.is_set():
                return False
            if isinstance(step, Poison):
                await self._dead_letter(step.record, step.reason, step.message, step.request_id)
            elif isinstance(step, Skip):
                self.stats.skipped += 1
                log.info("request %s is resolved already: skipped", step.request_id)
            elif isinstance(step, Handle) and not await self._handle(step):
                return False
            await self.commit(step.record)
        return True

    async def _dead_letter(self, record: Incoming, reason: str, message: str, request_id: str | None,
                           attempts: int = 0) -> None:
        headers = dead_letter_headers(record, reason, message, request_id, attempts)
        key, value = record.key, record.value
        # A dead letter the producer refuses would stop the listener at every start: cut it.
        if sum(len(k) + len(v) for k, v in record.headers) + len(key or b"") > MAX_EXTRA_BYTES:
            key = None
            headers = [h for h in headers if h[0].startswith(HEADER_PREFIX)]
            headers.append((HEADER_PREFIX + "dropped", b"key,headers"))
        if value is not None and len(value) > MAX_DEAD_LETTER_VALUE_BYTES:
            headers.append((HEADER_PREFIX + "truncated", str(len(value)).encode()))
            headers.append((HEADER_PREFIX + "sha256", hashlib.sha256(value).hexdigest().encode()))
            value = value[:MAX_DEAD_LETTER_VALUE_BYTES]
        await self.publish(self.options.dead_letter_topic, key, value, headers)
        self.stats.dead_lettered[reason] += 1
        log.warning("record %s[%d]@%d dead-lettered: %s (%s)", record.topic, record.partition, record.offset,
                    reason, message)

    async def _handle(self, step: Handle) -> bool:
        rid = step.request.request_id
        last = ""
        for attempt in range(1, self.options.max_attempts + 1):
            delivery = Delivery(step.request, step.record.value or b"", step.replaces, attempt)
            try:
                finished = await self._attempt(delivery)
            except HandlerFailed as exc:
                last = exc.message
            except StopListening:
                self.stopping.set()
                return False
            except Exception as exc:  # noqa: BLE001 - a Python handler's failure is retried like a command's
                last = f"raised {type(exc).__name__}"
            else:
                if not finished:
                    return False
                self._done(step)
                return True
            self.stats.failed_attempts += 1
            log.warning("request %s attempt %d/%d failed: %s", rid, attempt, self.options.max_attempts, last)
            if attempt < self.options.max_attempts and await self._stopped_within(
                    self.options.backoff_seconds(attempt)):
                return False
        await self._dead_letter(step.record, "handler_failed", f"{last}; {self.options.max_attempts} attempts",
                                rid, self.options.max_attempts)
        self.store.resolve(rid, "dead_lettered")
        return True

    def _done(self, step: Handle) -> None:
        self.store.resolve(step.request.request_id, "done")
        self.stats.handled += 1
        log.info("request %s handled", step.request.request_id)
        if self.options.fault_kill_before_commit:  # test hook: the commit is lost
            os.kill(os.getpid(), signal.SIGKILL)

    async def _attempt(self, delivery: Delivery) -> bool:
        """Run one attempt; False when a stop came and the grace period ran out first."""
        task = asyncio.ensure_future(self.handler(delivery))
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                await asyncio.wait({task}, timeout=self.options.shutdown_grace_seconds)
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                return False
            task.result()  # raises the handler's error
            return True
        finally:
            stop.cancel()

    async def _stopped_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True
