"""Sizes and slices of the worker's batches: fetch and request limits derived from the settings.

A consumed batch is applied in slices of at most ``worker.slice_max_bytes`` of
record values, with the event loop let turn between them (:data:`TURNS_BETWEEN_SLICES`);
the consumer's fetch size, the largest dead letter published whole and the
producer's request limit all follow from ``limits.max_message_bytes``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from stream_monitor.pipeline.outcome import SourceRecord
from stream_monitor.settings import ServiceSettings
from stream_monitor.sinks.topics import MAX_EXTRA_BYTES

__all__ = [
    "TURNS_BETWEEN_SLICES",
    "consumer_fetch_bytes",
    "dead_letter_value_bytes",
    "partition_key",
    "producer_request_bytes",
    "slices",
]

# Loop turns between two slices of a batch. One turn reads at most 256 KiB from a socket, and a
# fetch of 4 MiB then took 16 slices (~1 s of work) to arrive: the worker went idle after each
# batch waiting for the next (one worker kept 0.90 of a core busy on envelopes; with 8, 0.95-0.99).
TURNS_BETWEEN_SLICES = 8


def consumer_fetch_bytes(settings: ServiceSettings) -> int:
    """The consumer's per-partition fetch size (a record can still arrive larger: a broker
    returns the first record of a partition whatever its size)."""
    return max(settings.limits.max_message_bytes * 2, 4 * 1_048_576)


def dead_letter_value_bytes(settings: ServiceSettings) -> int:
    """The largest dead-letter value published whole; longer ones are cut (with a hash)."""
    return consumer_fetch_bytes(settings)


def producer_request_bytes(settings: ServiceSettings) -> int:
    """The producer's request limit: a whole dead letter, its headers and the batch overhead."""
    return dead_letter_value_bytes(settings) + 2 * MAX_EXTRA_BYTES + 65_536


def partition_key(partition: int) -> bytes:
    return f"partition-{partition}".encode()


def slices(records: Sequence[SourceRecord], max_bytes: int) -> Iterable[Sequence[SourceRecord]]:
    """Consecutive runs of records of at most ``max_bytes`` of values (at least one record each)."""
    start, size = 0, 0
    for i, r in enumerate(records):
        n = len(r.value) if r.value else 0
        if i > start and size + n > max_bytes:
            yield records[start:i]
            start, size = i, 0
        size += n
    if start < len(records):
        yield records[start:]
