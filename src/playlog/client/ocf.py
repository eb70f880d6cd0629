"""Avro Object Container Files, as the ingest API takes them (``application/avro``).

``container`` frames datums the tracker encoded already (at ``track()``, where a bad
event must fail); ``ocf_body`` encodes whole lists of events in one fastavro call
(the CLI's traffic and the benchmarks).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import Any

import fastavro

MAGIC = b"Obj\x01"


def write_long(value: int) -> bytes:
    """Avro's zig-zag varint."""
    raw, out = (value << 1) ^ (value >> 63), bytearray()
    while raw > 0x7F:
        out.append(raw & 0x7F | 0x80)
        raw >>= 7
    out.append(raw)
    return bytes(out)


def _text(value: bytes) -> bytes:
    return write_long(len(value)) + value


def container(schema_json: str, datums: Sequence[bytes]) -> bytes:
    """One container (codec ``null``) holding ``datums`` in one block."""
    sync = os.urandom(16)
    meta = _text(b"avro.schema") + _text(schema_json.encode()) + _text(b"avro.codec")
    header = MAGIC + write_long(2) + meta + _text(b"null") + write_long(0) + sync
    data = b"".join(datums)
    return header + write_long(len(datums)) + write_long(len(data)) + data + sync


def ocf_body(schema: dict[str, Any], events: list[dict[str, Any]], codec: str = "null") -> bytes:
    """One container of ``events`` (a fresh buffer: fastavro appends to non-empty ones)."""
    out = io.BytesIO()
    fastavro.writer(out, fastavro.parse_schema(schema), events, codec=codec)
    return out.getvalue()


__all__ = ["container", "ocf_body", "write_long"]
