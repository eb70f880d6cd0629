"""Avro bodies for tests: containers written by fastavro, and hand-made ones (a block
that lies about its count, a datum fastavro itself could not write)."""

from __future__ import annotations

import bz2
import io
import json
import lzma
import sys
import zlib
from typing import Any

import cramjam
import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from playlog.client.ocf import write_long

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

# Avro 1.12's block codecs
CODECS = ("null", "deflate", "snappy", "zstandard", "bzip2", "xz")


def ocf(
    schema: dict[str, Any], rows: list[dict[str, Any]], codec: str = "null", **kw: Any
) -> bytes:
    """One Object Container File of ``rows``, written by fastavro."""
    out = io.BytesIO()  # always a fresh buffer: fastavro appends to a non-empty one
    fastavro.writer(out, fastavro.parse_schema(schema), rows, codec=codec, **kw)
    return out.getvalue()


def fp(schema: dict[str, Any]) -> str:
    """The schema's hash: CRC-64-AVRO of its Parsing Canonical Form, 16 hex digits."""
    canonical = to_parsing_canonical_form(fastavro.parse_schema(schema))
    return str(fingerprint(canonical, "CRC-64-AVRO"))


def zigzag(n: int) -> bytes:
    """Avro's zig-zag varint of ``n``."""
    return write_long(n)


def ocf_block(
    schema: dict[str, Any],
    count: int,
    data: bytes,
    codec: str = "null",
    extra: dict[str, bytes] | None = None,
) -> bytes:
    """A container with one block claiming ``count`` records and holding ``data``;
    ``extra``: more header metadata (Avro allows any bytes as values)."""
    meta = {"avro.schema": json.dumps(schema).encode(), "avro.codec": codec.encode()}
    meta.update(extra or {})
    out = b"Obj\x01" + zigzag(len(meta))
    for key, value in meta.items():
        out += zigzag(len(key)) + key.encode() + zigzag(len(value)) + value
    sync = b"0123456789abcdef"
    return out + zigzag(0) + sync + zigzag(count) + zigzag(len(data)) + data + sync


def compress(codec: str, data: bytes) -> bytes:
    """One block's bytes in ``codec``, as the Avro spec frames them."""
    if codec == "deflate":
        return zlib.compress(data)[2:-4]  # raw deflate, as the Avro spec says
    if codec == "snappy":  # raw snappy + the big-endian CRC-32 of the uncompressed data
        return bytes(cramjam.snappy.compress_raw(data)) + zlib.crc32(data).to_bytes(4, "big")
    if codec == "zstandard":
        return bytes(zstd.compress(data))
    if codec == "bzip2":
        return bz2.compress(data)
    if codec == "xz":
        return lzma.compress(data)
    return data


def ocf_of(schema: dict[str, Any], datums: list[bytes], codec: str = "null") -> bytes:
    """A container with one block of ``datums`` (raw Avro binary)."""
    return ocf_block(schema, len(datums), compress(codec, b"".join(datums)), codec)


# A recursive type: data of it nests as deep as the writer likes.
NODE: dict[str, Any] = {
    "type": "record",
    "name": "node",
    "fields": [{"name": "v", "type": "int"}, {"name": "next", "type": ["null", "node"]}],
}


def linked_list(nodes: int) -> bytes:
    """The datum of a ``NODE`` list ``nodes`` long: 2 levels (record, union) per node.
    Built by hand: fastavro's own writer and reader crash at a few thousand."""
    return (zigzag(1) + zigzag(1)) * (nodes - 1) + zigzag(1) + zigzag(0)
