"""Exception tree of stream-monitor. Each class declares whether it is retriable.

::

    MonitorError                      (retriable = False)
     +-- ConfigError                  bad YAML or settings; fatal at start-up
     +-- ReferenceError_              a reference file or profile cannot be built or read
     +-- SnapshotError                a persisted snapshot cannot be decoded; state restarts
     +-- BrokerConnectError           the broker cannot be used as configured (unreachable,
     |                                TLS/SASL mismatch); fatal at start-up
     +-- TransientError               (retriable = True) broker or network hiccup
          +-- PublishError            a produce did not complete; retried with a bound

Retriable errors are retried with a bound by the app layer; non-retriable input
errors never escape the core: they become :class:`~stream_monitor.validation.Rejection`
values and are routed to the dead-letter topic with the original bytes.
"""

from __future__ import annotations

__all__ = [
    "BrokerConnectError",
    "ConfigError",
    "MonitorError",
    "PublishError",
    "ReferenceError_",
    "SnapshotError",
    "TransientError",
]


class MonitorError(Exception):
    """Base class of every error raised by stream-monitor."""

    retriable: bool = False


class ConfigError(MonitorError):
    """The configuration is invalid. Raised at start-up, never on the hot path."""


class BrokerConnectError(MonitorError):
    """The broker cannot be used as configured. Raised at start-up with one line
    that says what is wrong and how to fix it."""


class ReferenceError_(MonitorError):  # noqa: N801 - avoid shadowing builtin ReferenceError
    """A reference data file or profile cannot be read or built."""


class SnapshotError(MonitorError):
    """A persisted snapshot cannot be decoded; the affected state starts fresh."""


class TransientError(MonitorError):
    """A temporary failure talking to the broker; safe to retry."""

    retriable = True


class PublishError(TransientError):
    """A produce request did not complete in time."""
