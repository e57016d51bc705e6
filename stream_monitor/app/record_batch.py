"""A tolerant reader of Kafka v2 record batches: every record that parses, and where it stopped.

:func:`parse_batch` reads a batch that aiokafka could not (an unknown or failing
codec, a header key that is not UTF-8, a corrupt record) without trusting any
length or count in it, and never raises: it returns the records it read, the
offset of the first it could not read and why. :mod:`stream_monitor.app.records`
uses it to salvage such batches of the source topics.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from typing import Final

from aiokafka.codec import gzip_decode, lz4_decode, snappy_decode, zstd_decode
from aiokafka.record.util import decode_varint

__all__ = ["HEADER", "Parsed", "crc32c", "parse_batch"]

HEADER: Final = struct.Struct(">qiibIhiqqqhii")  # the v2 batch header (61 bytes)
_CODECS: Final = {1: gzip_decode, 2: lambda b: snappy_decode(bytes(b)), 3: lambda b: lz4_decode(bytes(b)),
                  4: lambda b: zstd_decode(bytes(b))}


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
        (base, _, _, magic, _, attrs, last_delta, first_ts, max_ts, _, _, _, count) = HEADER.unpack_from(raw)
    except struct.error:
        return [], 0, "batch header truncated"
    if magic != 2:
        return [], base, f"record format v{magic} not parsed"
    body: bytes = raw[HEADER.size:]
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


def crc32c(raw: bytes) -> int:
    from aiokafka.record.util import calc_crc32c

    return int(calc_crc32c(memoryview(raw)[21:]))  # from the attributes to the end
