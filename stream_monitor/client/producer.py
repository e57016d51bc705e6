"""The producer around the client's sender: building it, naming its errors, quieting its logs.

aiokafka's producer is used because it builds record batches and their CRC32C
checksums in C; kafka-python checksums in pure Python (unless the ``crc32c``
package is installed), a few thousand events per second of 650 bytes
(``benchmarks/client.py`` measures both). Its errors are told apart by class name
(:func:`drop_reason`), so nothing here imports aiokafka until a producer is built,
and its connection warnings from the sender's thread pass once a minute per message.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from typing import Any, Final

from stream_monitor.client.buffer import DropReason

__all__ = ["THREAD_NAME", "ClientClosed", "drop_reason", "kafka_producer", "quiet_aiokafka"]

_TIMEOUTS: Final = frozenset({"KafkaTimeoutError", "RequestTimedOutError", "TimeoutError"})
_TOO_LARGE: Final = frozenset({"MessageSizeTooLargeError", "RecordListTooLargeError", "RecordBatchTooLargeError"})
_CLOSED: Final = frozenset({"ProducerClosed", "ClientClosed", "CancelledError"})


THREAD_NAME: Final = "stream-monitor-client"
# aiokafka logs every failed connection and metadata attempt: during a broker outage, dozens of
# lines a second in the serving app's log. Records of the client's thread pass once a minute per
# message; other threads' records (an app using aiokafka itself) are untouched.
_AIOKAFKA_LOGGERS: Final = ("aiokafka", "aiokafka.cluster", "aiokafka.conn", "aiokafka.producer.producer",
                            "aiokafka.producer.sender")


class _OncePerMinute(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.threadName != THREAD_NAME:
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key, -math.inf) < 60.0:
                return False
            if len(self._last) >= 1000:
                self._last.clear()
            self._last[key] = now
        return True


_QUIET: Final = _OncePerMinute()


def quiet_aiokafka() -> None:
    for name in _AIOKAFKA_LOGGERS:
        logger = logging.getLogger(name)
        if _QUIET not in logger.filters:
            logger.addFilter(_QUIET)


class ClientClosed(Exception):
    """The client closed before the broker acknowledged an envelope."""


def drop_reason(exc: BaseException) -> DropReason:
    """The drop reason for a producer error (by class name: no producer import needed)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & _CLOSED:
        return "closed"
    if names & _TIMEOUTS:
        return "timeout"
    if names & _TOO_LARGE:
        return "too_large"
    return "broker_error"


def kafka_producer(bootstrap_servers: str, config: Mapping[str, Any]) -> Any:
    """An :class:`aiokafka.AIOKafkaProducer`; call inside the sender's loop."""
    from aiokafka import AIOKafkaProducer

    return AIOKafkaProducer(bootstrap_servers=bootstrap_servers, **config)
