"""Records the Kafka client cannot decode become dead letters, not a dead worker.

aiokafka parses fetched record batches lazily, inside ``getmany``: it decompresses
each batch and decodes every header key as UTF-8. A batch it cannot decompress
(an unknown codec, corrupt compressed bytes), a header key that is not UTF-8 or a
record whose structure does not parse raises out of the consumer, and since the
position never moves past the record, every restart raises again (a crash loop).

:func:`install` replaces the fetcher's batch iteration with one that, on the
source topics only, catches such a failure per batch and parses the batch again
with a tolerant reader: every record that parses is returned as usual, a record
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

import dataclasses
import struct
from collections import OrderedDict
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

from aiokafka.codec import gzip_decode, lz4_decode, snappy_decode, zstd_decode
from aiokafka.consumer import fetcher as _fetcher
from aiokafka.record.util import decode_varint
from aiokafka.structs import ConsumerRecord

__all__ = ["Mark", "RecordGuard", "install", "parse_batch"]

Problem = Literal["undecodable_record", "undecodable_batch"]
_HEADER: Final = struct.Struct(">qiibIhiqqqhii")  # the v2 batch header (61 bytes)
_CODECS: Final = {1: gzip_decode, 2: lambda b: snappy_decode(bytes(b)), 3: lambda b: lz4_decode(bytes(b)),
                  4: lambda b: zstd_decode(bytes(b))}
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


@dataclass(frozen=True, slots=True)
class Parsed:
    """One record of a batch, read by the tolerant parser."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    bad_header_key: bool


def _read_bytes(buf: bytes, pos: int) -> tuple[bytes | None, int]:
    n, pos = decode_varint(buf, pos)
    if n < 0:
        return None, pos
    if pos + n > len(buf):
        raise ValueError("length past the end of the batch")
    return bytes(buf[pos:pos + n]), pos + n


def _read_record(body: bytes, pos: int, base: int, ts_base: int) -> tuple[Parsed, int]:
    """One record of an uncompressed v2 batch body at ``pos``; raises ValueError or IndexError."""
    length, pos = decode_varint(body, pos)
    start = pos
    _, pos = decode_varint(body, pos)  # attributes
    ts_delta, pos = decode_varint(body, pos)
    off_delta, pos = decode_varint(body, pos)
    key, pos = _read_bytes(body, pos)
    value, pos = _read_bytes(body, pos)
    n_headers, pos = decode_varint(body, pos)
    if n_headers < 0:
        raise ValueError("negative header count")
    headers: list[tuple[str, bytes | None]] = []
    bad = False
    for _ in range(n_headers):
        h_key, pos = _read_bytes(body, pos)
        if h_key is None:
            raise ValueError("null header key")
        h_value, pos = _read_bytes(body, pos)
        try:
            name = h_key.decode("utf-8")
        except UnicodeDecodeError:
            name, bad = h_key.decode("utf-8", "backslashreplace"), True
        headers.append((name, h_value))
    if pos - start != length:
        raise ValueError("record size does not match")
    ts = ts_base + ts_delta
    return Parsed(base + off_delta, ts, key, value, tuple(headers), bad), pos


def parse_batch(raw: bytes) -> tuple[list[Parsed], int | None, str | None]:
    """Parse a v2 record batch without trusting it.

    Returns the records read, the offset of the first record that could not be
    read (``None`` when all were) and why. Never raises.
    """
    try:
        (base, _, _, magic, _, attrs, last_delta, first_ts, max_ts, _, _, _, count) = _HEADER.unpack_from(raw)
    except struct.error:
        return [], 0, "batch header truncated"
    if magic != 2:
        return [], base, f"record format v{magic} not parsed"
    body: bytes = raw[_HEADER.size:]
    codec = attrs & 0x07
    if codec:
        decompress = _CODECS.get(codec)
        if decompress is None:
            return [], base, f"unknown compression codec {codec}"
        try:
            body = bytes(decompress(memoryview(body)))
        except Exception as exc:  # noqa: BLE001 - any codec failure makes the batch undecodable
            return [], base, f"cannot decompress ({type(exc).__name__})"
    log_append = bool(attrs & 0x08)
    out: list[Parsed] = []
    pos = 0
    for _ in range(max(count, 0)):
        next_offset = out[-1].offset + 1 if out else base
        try:
            rec, pos = _read_record(body, pos, base, first_ts)
        except (ValueError, IndexError) as exc:
            return out, next_offset, f"corrupt record ({type(exc).__name__})"
        if rec.offset < next_offset:
            return out, next_offset, "record offsets out of order"
        out.append(dataclasses.replace(rec, timestamp=max_ts) if log_append else rec)
    if pos != len(body):
        return out, (out[-1].offset + 1 if out else base), "unread bytes after the last record"
    if out and out[-1].offset > base + last_delta:
        out.pop()
        return out, (out[-1].offset + 1 if out else base), "record offset past the batch's last offset"
    return out, None, None


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
                crc_ok = _HEADER.unpack_from(raw)[4] == _crc32c(raw)
            except struct.error:
                crc_ok = False
            if not crc_ok:
                parsed, failed_at, why = [], _HEADER.unpack_from(raw)[0] if len(raw) >= 8 else 0, "invalid CRC"
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


def _crc32c(raw: bytes) -> int:
    from aiokafka.record.util import calc_crc32c

    return int(calc_crc32c(memoryview(raw)[21:]))  # from the attributes to the end


def install(guard: RecordGuard) -> None:
    """Guard ``guard.topics`` in every aiokafka consumer of this process."""
    global _guard
    _guard = guard
    _fetcher.MemoryRecords = _RawMemoryRecords
    _fetcher.PartitionRecords = _GuardedPartitionRecords
