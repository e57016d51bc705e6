"""Records the Kafka client cannot decode: salvaged per record, marked, never raised (no broker)."""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from aiokafka.consumer.fetcher import READ_UNCOMMITTED
from aiokafka.record.default_records import DefaultRecordBatchBuilder as AIOBatchBuilder
from aiokafka.record.util import calc_crc32c
from aiokafka.structs import TopicPartition
from kafka.record.default_records import DefaultRecordBatchBuilder

from stream_monitor.app import records as guard_module
from stream_monitor.app.record_batch import parse_batch
from stream_monitor.app.records import Mark, RecordGuard, install

TOPIC = "src"


class RawKey(str):
    """A header key that kafka-python writes as the given (invalid UTF-8) bytes."""

    raw = b"\xff\xfe"

    def encode(self, *args: Any, **kwargs: Any) -> bytes:  # type: ignore[override]
        return self.raw


Rec = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


def batch(base: int, recs: Sequence[Rec], codec: int = 0) -> bytes:
    # kafka-python's builder writes RawKey's bytes; aiokafka's (cramjam) compresses every codec
    b = (AIOBatchBuilder if codec else DefaultRecordBatchBuilder)(2, codec, 0, -1, -1, -1, 1 << 22)
    for i, (key, value, headers) in enumerate(recs):
        assert b.append(i, timestamp=1_000 + i, key=key, value=value, headers=headers) is not None
    raw = bytearray(b.build())
    struct.pack_into(">q", raw, 0, base)
    return bytes(raw)


def with_codec_bits(raw: bytes, codec: int) -> bytes:
    """The same batch with other compression bits and a valid CRC (what a producer could send)."""
    buf = bytearray(raw)
    (attrs,) = struct.unpack_from(">h", buf, 21)
    struct.pack_into(">h", buf, 21, (attrs & ~0x07) | codec)
    struct.pack_into(">I", buf, 17, calc_crc32c(memoryview(buf)[21:]))
    return bytes(buf)


@pytest.fixture
def guard() -> Iterator[RecordGuard]:
    g = RecordGuard([TOPIC])
    install(g)
    yield g
    guard_module._guard = None  # other tests see aiokafka's behaviour for every topic


def fetch(raw: bytes, topic: str = TOPIC, fetch_offset: int = 0) -> tuple[list[Any], int]:
    records = guard_module._RawMemoryRecords(raw)
    pr = guard_module._GuardedPartitionRecords(TopicPartition(topic, 0), records, [], fetch_offset, None, None,
                                               True, READ_UNCOMMITTED)
    out = list(pr)
    return out, pr.next_fetch_offset


GOOD: Rec = (b"m", b'{"a":1}', [("trace", b"1")])
BAD_HEADER: Rec = (b"m", b'{"a":2}', [(RawKey("zz"), b"x"), ("trace", b"2")])


def test_a_non_utf8_header_key_marks_that_record_only(guard: RecordGuard) -> None:
    raw = batch(10, [GOOD, BAD_HEADER, GOOD])
    out, end = fetch(raw, fetch_offset=10)
    assert [r.offset for r in out] == [10, 11, 12] and end == 13
    assert [r.value for r in out] == [b'{"a":1}', b'{"a":2}', b'{"a":1}']
    assert out[1].headers == (("\\xff\\xfe", b"x"), ("trace", b"2"))
    assert guard.take(TOPIC, 0, 10) is None
    assert guard.take(TOPIC, 0, 11) == Mark("undecodable_record", "a header key is not valid UTF-8", 12)
    assert guard.take(TOPIC, 0, 11) is None  # handed out once


@pytest.mark.parametrize("codec", [1, 2, 3, 4])
def test_every_codec_kafka_producers_use_is_decoded(guard: RecordGuard, codec: int) -> None:
    out, end = fetch(batch(0, [GOOD] * 50, codec=codec))
    assert len(out) == 50 and end == 50 and not guard._marks


@pytest.mark.parametrize(("codec", "why"), [(6, "unknown compression codec 6"), (1, "cannot decompress")])
def test_a_batch_that_cannot_be_decompressed_is_one_marked_record(guard: RecordGuard, codec: int, why: str) -> None:
    good = batch(0, [GOOD, GOOD])
    bad = with_codec_bits(batch(2, [GOOD, GOOD, GOOD]), codec)  # 3 records behind bits that lie
    out, end = fetch(good + bad + batch(5, [GOOD]))
    assert [r.offset for r in out] == [0, 1, 2, 5] and end == 6
    assert out[2].value == bad  # the raw batch travels to the dead-letter topic
    mark = guard.take(TOPIC, 0, 2)
    assert mark is not None and mark.reason == "undecodable_batch" and mark.next_offset == 5
    assert mark.message.startswith(why)


def test_a_corrupt_crc_is_one_marked_record(guard: RecordGuard) -> None:
    raw = bytearray(batch(0, [GOOD, GOOD]))
    raw[-1] ^= 0xFF
    out, end = fetch(bytes(raw))
    assert [r.offset for r in out] == [0] and end == 2
    assert guard.take(TOPIC, 0, 0) == Mark("undecodable_batch", "invalid CRC", 2)


def test_records_before_the_fetch_offset_are_not_handed_out_again(guard: RecordGuard) -> None:
    out, end = fetch(batch(0, [GOOD, BAD_HEADER, GOOD, GOOD]), fetch_offset=2)
    assert [r.offset for r in out] == [2, 3] and end == 4 and not guard._marks


def test_other_topics_keep_the_clients_behaviour(guard: RecordGuard) -> None:
    with pytest.raises(UnicodeDecodeError):
        fetch(batch(0, [GOOD, BAD_HEADER]), topic="changelog")


def test_the_tolerant_parser_reports_where_a_truncated_batch_stops() -> None:
    raw = batch(0, [GOOD, GOOD, GOOD])
    parsed, failed_at, why = parse_batch(raw[:-5])
    assert [p.offset for p in parsed] == [0, 1] and failed_at == 2 and why is not None
    assert parse_batch(b"\x00" * 10) == ([], 0, "batch header truncated")
