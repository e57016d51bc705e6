"""Hypothesis fuzzing of the consumer-side decode path: raw record batches (random keys,
values and header bytes, compressed or not, corrupted or not) go through the guarded fetcher
and the monitor. No exception escapes, and every record is accounted for: each offset of a
batch is covered once, by a record or by the span of an undecodable batch, and each record
handed out is counted, dead-lettered or routed exactly once."""

from __future__ import annotations

import struct
from typing import Any

from aiokafka.consumer.fetcher import READ_UNCOMMITTED
from aiokafka.record.default_records import DefaultRecordBatchBuilder as AIOBatchBuilder
from aiokafka.record.util import calc_crc32c
from aiokafka.structs import TopicPartition
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatchBuilder

from stream_monitor.app import records as guarded
from stream_monitor.app.records import RecordGuard, install
from stream_monitor.pipeline.monitor import Monitor, SourceRecord
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate import Scenario, demo_model_config, generate, reference_rows, to_json
from stream_monitor.windows.profile import build_profile

TOPIC = "fuzz"
SPEC = ModelSpec.model_validate(demo_model_config())
GOOD = [to_json(e) for e in generate(Scenario(seed=9), 20)]
REFERENCE = build_profile(SPEC, reference_rows(2_000, seed=1), source="fuzz reference")


class _Bytes(str):
    """A header key written as arbitrary bytes by kafka-python's builder."""

    raw: bytes = b""

    def encode(self, *args: Any, **kwargs: Any) -> bytes:  # type: ignore[override]
        return self.raw


def _key(raw: bytes) -> _Bytes:
    k = _Bytes("k")
    k.raw = raw
    return k


values = st.one_of(st.none(), st.binary(max_size=64), st.sampled_from(GOOD),
                   st.sampled_from(GOOD).map(lambda v: v.replace(b"fraud-detector", b"other-model")))
headers = st.lists(st.tuples(st.binary(max_size=8), st.one_of(st.none(), st.binary(max_size=8))), max_size=3)
records = st.lists(st.tuples(st.one_of(st.none(), st.just(b"fraud-detector"), st.binary(max_size=8)), values, headers),
                   min_size=1, max_size=8)
corruption = st.one_of(
    st.none(),
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(1, 255), st.booleans()),  # bool: fix the CRC
    st.tuples(st.just("codec"), st.integers(1, 7), st.just(0), st.just(True)),
    st.tuples(st.just("truncate"), st.integers(1, 10_000), st.just(0), st.just(False)),
)
batches = st.lists(st.tuples(records, st.sampled_from([0, 0, 1, 2, 3, 4]), corruption), min_size=1, max_size=3)


def _build(base: int, recs: list[tuple[bytes | None, bytes | None, list[tuple[bytes, bytes | None]]]],
           codec: int) -> bytes:
    if codec:  # aiokafka's builder compresses every codec (kafka-python would need more libraries)
        b: Any = AIOBatchBuilder(2, codec, 0, -1, -1, -1, 1 << 22)
        hdr: Any = [[(k.decode("utf-8", "replace"), v) for k, v in h] for _, _, h in recs]
    else:
        b = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 1 << 22)
        hdr = [[(_key(k), v) for k, v in h] for _, _, h in recs]
    for i, (key, value, _) in enumerate(recs):
        assert b.append(i, timestamp=1_000 + i, key=key, value=value, headers=hdr[i]) is not None
    raw = bytearray(b.build())
    struct.pack_into(">q", raw, 0, base)
    return bytes(raw)


def _corrupt(raw: bytes, how: tuple[str, int, int, bool] | None) -> bytes:
    if how is None:
        return raw
    kind, a, b, fix_crc = how
    buf = bytearray(raw)
    if kind == "flip":
        buf[61 + a % max(len(buf) - 61, 1)] ^= b  # the records, not the batch header
    elif kind == "codec":
        (attrs,) = struct.unpack_from(">h", buf, 21)
        struct.pack_into(">h", buf, 21, (attrs & ~0x07) | a)
    elif kind == "truncate":
        keep = 61 + a % max(len(buf) - 61, 1)
        struct.pack_into(">i", buf, 8, keep - 12)  # the batch length says so too: a short batch
        buf = buf[:keep]
    if fix_crc:
        struct.pack_into(">I", buf, 17, calc_crc32c(memoryview(buf)[21:]))
    return bytes(buf)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches)
def test_no_exception_escapes_and_every_record_is_accounted_for(spec: list[Any]) -> None:
    guard = RecordGuard([TOPIC])
    install(guard)
    try:
        raw, bounds, base = b"", [], 0
        for recs, codec, how in spec:
            raw += _corrupt(_build(base, recs, codec), how)
            bounds.append((base, base + len(recs)))
            base += len(recs)
        pr = guarded._GuardedPartitionRecords(TopicPartition(TOPIC, 0), guarded._RawMemoryRecords(raw), [], 0,
                                              None, None, True, READ_UNCOMMITTED)
        out = list(pr)
        marks = {r.offset: guard.take(TOPIC, 0, r.offset) for r in out}
    finally:
        guarded._guard = None

    # every offset once: records and spans are in order, disjoint, and end where the fetch resumes
    pos = 0
    for r in out:
        mark = marks[r.offset]
        assert r.offset == pos  # no gap: a gap would read as records the consumer skipped
        pos = mark.next_offset if mark is not None else r.offset + 1
    assert pr.next_fetch_offset >= pos
    if all(how is None for _, _, how in spec):  # intact batches: every record, unchanged
        sent = [(k, v) for recs, _, _ in spec for k, v, _ in recs]
        assert [(r.key, r.value) for r in out] == sent
        assert pr.next_fetch_offset == base

    # the monitor turns each record into exactly one counted event, dead letter or route
    source = [SourceRecord("prediction", r.value, TOPIC, 0, r.offset, r.key,
                           tuple((str(k), bytes(v or b"")) for k, v in r.headers),
                           None if (m := marks[r.offset]) is None else (m.reason, m.message, m.next_offset))
              for r in out]
    mon = Monitor([SPEC], {SPEC.model_id: REFERENCE}, max_message_bytes=1 << 20, route_null_keys=True)
    outcome = mon.observe(source, now=2e9)
    counted = sum(outcome.consumed.values())
    assert counted + len(outcome.dead_letters) + len(outcome.routes) == len(source)
    assert {d.record.offset for d in outcome.dead_letters}.isdisjoint({r.record.offset for r in outcome.routes})
    if source:
        assert mon.positions[(TOPIC, 0)] == pos
