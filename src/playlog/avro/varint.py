"""Avro's zig-zag varint longs: the one primitive the framing walk (``ocf``) and the
nesting-depth walk (``depth``) both read. A module of its own so that the client,
which needs the depth walk, does not load the block codecs (cramjam, zstd)."""

from __future__ import annotations

from playlog.errors import InvalidPayload


def read_long(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode one zig-zag varint long at ``pos``; returns (value, next position)."""
    shift = 0
    raw = 0
    while True:
        if pos >= len(buf):
            raise InvalidPayload("truncated Avro data: varint runs past the end of the body")
        byte = buf[pos]
        pos += 1
        raw |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (raw >> 1) ^ -(raw & 1), pos
        shift += 7
        if shift > 63:
            raise InvalidPayload("corrupt Avro data: varint longer than 10 bytes")
