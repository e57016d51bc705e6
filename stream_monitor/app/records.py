"""Records the Kafka client cannot decode become dead letters, not a dead worker.

aiokafka parses fetched record batches lazily, inside ``getmany``: it decompresses
each batch and decodes every header key as UTF-8. A batch it cannot decompress
(an unknown codec, corrupt compressed bytes), a header key that is not UTF-8 or a
record whose structure does not parse raises out of the consumer, and since the
position never moves past the record, every restart raises again (a crash loop).

:func:`install` replaces the fetcher's batch iteration with one that, on the
source topics only, catches such a failure per batch and parses the batch again
with a tolerant reader (:mod:`stream_monitor.app.record_batch`): every record that parses is returned as usual, a record
with a non-UTF-8 header key is returned with the key escaped
(``backslashreplace``) and marked ``undecodable_record``, and whatever cannot be
parsed (the rest of a corrupt batch, a batch that cannot be decompressed) comes
as one record at its first offset, marked ``undecodable_batch``, carrying the raw
batch bytes and the offset after it. The marks live in a :class:`RecordGuard`
the worker reads when it turns a message into a source record; a producer cannot
forge one. Other topics (the changelog) keep aiokafka's behaviour.

The fetcher takes its classes from module globals, so installing is process-wide;
records that decode cleanly take the original path unchanged.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

from aiokafka.consumer import fetcher as _fetcher
from aiokafka.structs import ConsumerRecord

from stream_monitor.app.record_batch import HEADER, crc32c, parse_batch

__all__ = ["Mark", "RecordGuard", "install"]

Problem = Literal["undecodable_record", "undecodable_batch"]
_MAX_MARKS: Final = 100_000  # marks of records never handed out (a revoked partition) are forgotten past this


@dataclass(frozen=True, slots=True)
class Mark:
    """Why a record could not be decoded, and the offset after what it stands for."""

    reason: Problem
    message: str
    next_offset: int


class RecordGuard:
    """The source topics to guard and the marks of their undecodable records."""

    def __init__(self, topics: Collection[str]) -> None:
        self.topics = frozenset(topics)
        self._marks: OrderedDict[tuple[str, int, int], Mark] = OrderedDict()

    def mark(self, topic: str, partition: int, offset: int, mark: Mark) -> None:
        self._marks[(topic, partition, offset)] = mark
        while len(self._marks) > _MAX_MARKS:
            self._marks.popitem(last=False)

    def take(self, topic: str, partition: int, offset: int) -> Mark | None:
        """The mark of a record, if it has one (looked up once per record, so it is removed)."""
        if not self._marks:
            return None
        return self._marks.pop((topic, partition, offset), None)


class _RawMemoryRecords:
    """aiokafka's ``MemoryRecords`` that also hands out the raw bytes of each batch."""

    def __init__(self, data: bytes) -> None:
        self._inner = _ORIGINAL_MEMORY_RECORDS(data)
        self._data = data
        self._pos = 0

    def size_in_bytes(self) -> int:
        return int(self._inner.size_in_bytes())

    def has_next(self) -> bool:
        return bool(self._inner.has_next())

    def next_batch(self) -> Any:
        return self.next_batch_raw()[0]

    def next_batch_raw(self) -> tuple[Any, memoryview]:
        """The next batch and a view of its bytes (copied only when the batch is salvaged)."""
        batch = self._inner.next_batch()
        start = self._pos
        (length,) = struct.unpack_from(">i", self._data, start + 8)
        self._pos = start + 12 + length
        return batch, memoryview(self._data)[start:self._pos]


_ORIGINAL_MEMORY_RECORDS: Any = _fetcher.MemoryRecords
_ORIGINAL_PARTITION_RECORDS: Any = _fetcher.PartitionRecords
_guard: RecordGuard | None = None


class _GuardedPartitionRecords(_ORIGINAL_PARTITION_RECORDS):  # type: ignore[misc]
    """aiokafka's ``PartitionRecords`` that salvages what a guarded topic's batch holds."""

    def _unpack_records(self) -> Iterator[Any]:
        guard, tp = _guard, self._tp
        if guard is None or tp.topic not in guard.topics or not isinstance(self._records, _RawMemoryRecords):
            yield from super()._unpack_records()
            return
        records = self._records
        while records.has_next():
            batch, raw = records.next_batch_raw()
            decoded: list[Any] | None = None
            if not self._check_crcs or batch.validate_crc():
                if batch.is_control_batch:  # transactions are not used on the source topics
                    self.next_fetch_offset = batch.next_offset
                    continue
                try:
                    decoded = [self._consumer_record(tp, r) for r in batch if r.offset >= self.next_fetch_offset]
                except Exception:  # noqa: BLE001 - whatever the client cannot read is salvaged below
                    decoded = None
                if decoded and (decoded[0].offset != self.next_fetch_offset or decoded[-1].offset >= batch.next_offset
                                or decoded[-1].offset - decoded[0].offset != len(decoded) - 1):
                    decoded = None  # offsets that do not run on: the salvage finds where they stop
            if decoded is None:
                yield from self._salvage(guard, raw, batch.next_offset)
            else:
                for rec in decoded:
                    self.next_fetch_offset = rec.offset + 1
                    yield rec
            self.next_fetch_offset = batch.next_offset

    def _salvage(self, guard: RecordGuard, view: memoryview, batch_end: int) -> Iterator[Any]:
        tp, raw = self._tp, bytes(view)
        parsed, failed_at, why = parse_batch(raw)
        if self._check_crcs and failed_at is None:
            # The CRC or the C parser refused what the tolerant parser reads: keep the
            # records, but an invalid CRC still makes the batch suspect as a whole.
            try:
                crc_ok = HEADER.unpack_from(raw)[4] == crc32c(raw)
            except struct.error:
                crc_ok = False
            if not crc_ok:
                parsed, failed_at, why = [], HEADER.unpack_from(raw)[0] if len(raw) >= 8 else 0, "invalid CRC"
        for p in parsed:
            if p.offset < self.next_fetch_offset:
                continue
            if p.offset != self.next_fetch_offset or p.offset >= batch_end:
                # offsets must run on without gaps inside the batch: a gap would read as records the
                # consumer skipped, and the worker would seek back to it forever
                failed_at, why = self.next_fetch_offset, "record offsets do not follow each other"
                break
            if p.bad_header_key:
                guard.mark(tp.topic, tp.partition, p.offset,
                           Mark("undecodable_record", "a header key is not valid UTF-8", p.offset + 1))
            self.next_fetch_offset = p.offset + 1
            yield ConsumerRecord(tp.topic, tp.partition, p.offset, p.timestamp, 0, p.key, p.value, None,
                                 len(p.key) if p.key is not None else -1,
                                 len(p.value) if p.value is not None else -1, p.headers)
        if failed_at is not None and batch_end > self.next_fetch_offset:
            offset = max(failed_at, self.next_fetch_offset)
            guard.mark(tp.topic, tp.partition, offset, Mark("undecodable_batch", why or "undecodable", batch_end))
            self.next_fetch_offset = batch_end
            yield ConsumerRecord(tp.topic, tp.partition, offset, -1, 0, None, raw, None, -1, len(raw), ())


def install(guard: RecordGuard) -> None:
    """Guard ``guard.topics`` in every aiokafka consumer of this process."""
    global _guard
    _guard = guard
    _fetcher.MemoryRecords = _RawMemoryRecords
    _fetcher.PartitionRecords = _GuardedPartitionRecords
