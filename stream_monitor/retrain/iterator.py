"""A plain Python iterator over retrain requests, with the listener's guarantees.

::

    with RetrainRequests(bootstrap_servers="kafka:9092", group_id="retrainer",
                         store_path="retrain.sqlite") as requests:
        for request in requests:
            retrain(request.model_id, request.features)

A request is acknowledged (recorded in the dedup store, then its offset
committed) when the loop asks for the next one. Leaving the loop -- an
exception, ``break`` -- leaves the current request unacknowledged: the next run
gets it again. Superseding, dedup and dead-lettering of poison records are the
listener's (:mod:`stream_monitor.retrain.engine`); the dead-letter topic is
created when missing. Retries are the loop's own business, since an exception
ends the loop.

The listener runs in a background thread with its own event loop, so the
consumer keeps its group membership (heartbeats) while the loop body runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import replace
from types import TracebackType
from typing import Any

from stream_monitor.decisions.request import RetrainRequest
from stream_monitor.retrain.engine import StopListening
from stream_monitor.retrain.handlers import Delivery
from stream_monitor.retrain.listener import RetrainListener
from stream_monitor.retrain.options import ListenOptions, ListenStats
from stream_monitor.tools.kafka_admin import create_topics

__all__ = ["RetrainRequests"]

_Item = tuple[Delivery, "concurrent.futures.Future[None]"]
_END = None


class RetrainRequests:
    """Iterate over retrain requests (see the module docstring).

    Parameters
    ----------
    options:
        The listener's options; keyword arguments override single fields of it
        (``bootstrap_servers``, ``group_id``, ``store_path``, ...).
    """

    def __init__(self, options: ListenOptions | None = None, **overrides: Any) -> None:
        self.options = replace(options or ListenOptions(), **overrides)
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._pending: concurrent.futures.Future[None] | None = None
        self._listener = RetrainListener(self.options, self._bridge)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def stats(self) -> ListenStats:
        return self._listener.stats

    async def _bridge(self, delivery: Delivery) -> None:
        ack: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._queue.put((delivery, ack))
        await asyncio.wrap_future(ack)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            o = self.options
            # Here, not in the caller's thread: a notebook's thread runs an event loop already.
            create_topics(o.bootstrap_servers, [o.dead_letter_topic], 1, security=o.security)
            loop.run_until_complete(self._listener.run())
        except BaseException as exc:  # noqa: BLE001 - handed to the iterating thread
            self._error = exc
        finally:
            loop.close()
            self._queue.put(_END)

    def __iter__(self) -> Iterator[RetrainRequest]:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="retrain-listener", daemon=True)
            self._thread.start()
        while True:
            item = self._queue.get()
            if item is _END:
                if self._error is not None:
                    raise self._error
                return
            delivery, ack = item
            self._pending = ack
            try:
                yield delivery.request
            except BaseException:
                self._abandon()
                raise
            if not ack.done():
                ack.set_result(None)
            self._pending = None

    def _abandon(self) -> None:
        ack = self._pending
        if ack is not None and not ack.done():
            ack.set_exception(StopListening())
        self._pending = None

    def close(self) -> None:
        """Stop listening; an unacknowledged request stays unacknowledged."""
        self._abandon()
        loop, thread = self._loop, self._thread
        if loop is None:
            self._listener.stop()  # not running yet: it stops as it starts
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: stopped already
                loop.call_soon_threadsafe(self._listener.stop)
        if thread is not None:
            thread.join()

    def __enter__(self) -> RetrainRequests:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
