"""The listener's options and its counters."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from stream_monitor.config.groups import KafkaSecurity

__all__ = ["ListenOptions", "ListenStats"]


@dataclass(frozen=True, slots=True)
class ListenOptions:
    """How a listener consumes, retries and dead-letters (defaults as in the CLI).

    ``backoff_seconds(n)`` is the wait after the ``n``-th failed attempt:
    ``backoff_initial_seconds * 2 ** (n - 1)``, at most ``backoff_max_seconds``.
    """

    bootstrap_servers: str = "127.0.0.1:9092"
    security: KafkaSecurity = field(default_factory=KafkaSecurity)
    topic: str = "model-retrain-requests"
    dead_letter_topic: str = "model-retrain-requests-dlq"
    group_id: str = "stream-monitor-retrain"
    store_path: Path = Path(".stream-monitor/retrain-dedup.sqlite")
    store_max_entries: int = 100_000
    max_attempts: int = 5
    backoff_initial_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    handler_timeout_seconds: float | None = 3600.0
    coalesce_seconds: float = 0.0
    shutdown_grace_seconds: float = 30.0
    session_timeout_seconds: float = 10.0
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    # Test hook: SIGKILL the process itself after a success is recorded in the
    # store and before its offset is committed (a lost commit). Never set in production.
    fault_kill_before_commit: bool = False

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff_initial_seconds < 0 or self.backoff_max_seconds < self.backoff_initial_seconds:
            raise ValueError("need 0 <= backoff_initial_seconds <= backoff_max_seconds")
        if self.handler_timeout_seconds is not None and self.handler_timeout_seconds <= 0:
            raise ValueError("handler_timeout_seconds must be positive")
        if self.coalesce_seconds < 0 or self.shutdown_grace_seconds < 0:
            raise ValueError("coalesce_seconds and shutdown_grace_seconds cannot be negative")
        if self.session_timeout_seconds < 6:
            raise ValueError("session_timeout_seconds must be at least 6")

    def backoff_seconds(self, failed_attempt: int) -> float:
        return float(min(self.backoff_initial_seconds * 2 ** (failed_attempt - 1), self.backoff_max_seconds))

    def max_poll_interval_seconds(self) -> float:
        """How long the group waits between fetches before it drops the listener:
        every attempt of one request with its backoff, plus a minute."""
        per_attempt = (self.handler_timeout_seconds or 86_400.0) + self.backoff_max_seconds
        return self.max_attempts * per_attempt + self.shutdown_grace_seconds + 60.0


@dataclass
class ListenStats:
    """What the listener did with every record; nothing leaves uncounted.

    ``handled`` (handler succeeded), ``skipped`` (resolved already: a
    re-delivery), ``superseded``, ``dead_lettered`` by reason, ``failed_attempts``
    (each failed attempt, retried or not), ``commit_failures``.
    """

    handled: int = 0
    skipped: int = 0
    superseded: int = 0
    failed_attempts: int = 0
    commit_failures: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "handled": self.handled, "skipped": self.skipped, "superseded": self.superseded,
            "failed_attempts": self.failed_attempts, "commit_failures": self.commit_failures,
            "dead_lettered": dict(sorted(self.dead_lettered.items())),
        }
