"""Walk Avro Object Container Files without decoding a single record.

A body may hold several containers back to back. Each is: magic ``Obj\\x01``, a
metadata map (``avro.schema``, ``avro.codec``), a 16-byte sync marker, then blocks
of ``count, size, <size bytes>, sync``. Checking the framing of every block (sizes,
sync markers, counts) proves the body is whole and tells how many events it holds,
at a cost per block rather than per event: this is ingest's fast path.

Telling "next block" from "next container" is unambiguous: a block starts with a
positive zig-zag count, and the magic's first byte ``O`` (0x4F) would decode as -40.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from playlog.avro.codecs import CODECS
from playlog.avro.varint import read_long
from playlog.errors import InvalidPayload

MAGIC = b"Obj\x01"
SYNC_SIZE = 16
SUPPORTED_CODECS = CODECS  # every codec of Avro 1.12
__all__ = ["MAGIC", "SUPPORTED_CODECS", "SYNC_SIZE", "Container", "blocks", "read_long", "walk"]


@dataclass(frozen=True, slots=True)
class Container:
    start: int  # offsets into the body
    end: int
    header_end: int  # where the first block starts
    schema_json: str
    codec: str
    count: int  # events in all blocks


def _read_bytes(buf: bytes, pos: int) -> tuple[bytes, int]:
    size, pos = read_long(buf, pos)
    if size < 0:
        raise InvalidPayload(f"corrupt Avro container header: negative length {size}")
    if pos + size > len(buf):
        raise InvalidPayload("truncated Avro container header: a value runs past the end")
    return buf[pos : pos + size], pos + size


def _read_metadata(buf: bytes, pos: int) -> tuple[dict[str, bytes], int]:
    meta: dict[str, bytes] = {}
    while True:
        count, pos = read_long(buf, pos)
        if count == 0:
            return meta, pos
        if count < 0:  # a negative count is followed by the block's byte size
            count = -count
            _, pos = read_long(buf, pos)
        for _ in range(count):
            key, pos = _read_bytes(buf, pos)
            value, pos = _read_bytes(buf, pos)
            meta[key.decode("utf-8", "replace")] = value


def walk(body: bytes) -> list[Container]:
    """Every container in ``body``, with its framing checked; InvalidPayload otherwise."""
    containers: list[Container] = []
    pos = 0
    if not body:
        raise InvalidPayload("empty body")
    while pos < len(body):
        containers.append(_walk_one(body, pos))
        pos = containers[-1].end
    return containers


def _walk_one(body: bytes, start: int) -> Container:
    index = f"container at byte {start}"
    if body[start : start + 4] != MAGIC:
        raise InvalidPayload(f"{index}: not an Avro object container file (bad magic)")
    meta, pos = _read_metadata(body, start + 4)
    sync = body[pos : pos + SYNC_SIZE]
    if len(sync) != SYNC_SIZE:
        raise InvalidPayload(f"{index}: truncated header (no sync marker)")
    pos += SYNC_SIZE
    header_end = pos
    if "avro.schema" not in meta:
        raise InvalidPayload(f"{index}: header has no avro.schema")
    try:
        schema_json = meta["avro.schema"].decode()
        codec = meta.get("avro.codec", b"null").decode() or "null"
    except UnicodeDecodeError as exc:
        raise InvalidPayload(f"{index}: header metadata is not UTF-8 text") from exc
    if codec not in SUPPORTED_CODECS:
        raise InvalidPayload(
            f"{index}: codec {codec!r} not supported; use one of {sorted(SUPPORTED_CODECS)}"
        )
    total = 0
    while pos < len(body) and body[pos : pos + 4] != MAGIC:
        count, pos = read_long(body, pos)
        size, pos = read_long(body, pos)
        if count <= 0 or size < 0:
            raise InvalidPayload(f"{index}: corrupt block header (count {count}, size {size})")
        if pos + size + SYNC_SIZE > len(body):
            raise InvalidPayload(f"{index}: truncated block ({size} bytes + sync marker)")
        pos += size
        if body[pos : pos + SYNC_SIZE] != sync:
            raise InvalidPayload(f"{index}: block does not end with the sync marker")
        pos += SYNC_SIZE
        total += count
    return Container(start, pos, header_end, schema_json, codec, total)


def blocks(body: bytes, container: Container) -> Iterator[tuple[int, int, int]]:
    """``(count, start, end)`` of each block's data in a container ``walk`` checked."""
    pos = container.header_end
    while pos < container.end:
        count, pos = read_long(body, pos)
        size, pos = read_long(body, pos)
        yield count, pos, pos + size
        pos += size + SYNC_SIZE
