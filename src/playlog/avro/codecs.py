"""The block codecs of Avro 1.12 Object Container Files, each inflated within a budget.

    Inflater(budget=80 << 20).inflate("snappy", block, "block at byte 812")

A few KB of any codec can claim gigabytes, so no block is ever inflated without a
bound: the streaming codecs (deflate, zstandard, bzip2, xz) stop at the bytes left
in the budget (``max_length``), and snappy's raw format states its inflated length
up front, which is checked before anything is allocated. Snappy blocks end with the
big-endian CRC-32 of the inflated data, which is checked too.

Libraries, by measurement (``benchmarks/codecs.py``): zstandard through
``backports.zstd`` (the standard library's ``compression.zstd`` from Python 3.14),
bzip2 and xz through the standard library, snappy through ``cramjam``. cramjam's
zstd and xz are 1.3-1.5x faster but one-shot: their output cannot be bounded without
allocating the whole budget first. fastavro (the row path) reads zstandard and
snappy through these same two packages.
"""

from __future__ import annotations

import bz2
import lzma
import sys
import zlib
from collections.abc import Callable
from typing import Any

import cramjam

from playlog.errors import InvalidPayload, PayloadTooLarge

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

# codec -> a fresh streaming decompressor (``decompress(data, max_length)``, ``eof``)
_STREAMING: dict[str, Callable[[], Any]] = {
    "deflate": lambda: zlib.decompressobj(-zlib.MAX_WBITS),  # raw deflate, as the spec says
    "zstandard": zstd.ZstdDecompressor,
    "bzip2": bz2.BZ2Decompressor,
    "xz": lzma.LZMADecompressor,
}
_ERRORS = (zlib.error, OSError, EOFError, ValueError, lzma.LZMAError, zstd.ZstdError)
CODECS = frozenset({"null", "snappy", *_STREAMING})
_CRC_SIZE = 4


class Inflater:
    """Inflates the blocks of one body, ``budget`` bytes in all (413 beyond it)."""

    def __init__(self, budget: int) -> None:
        self.limit = budget
        self.left = budget

    def inflate(self, codec: str, data: bytes, where: str) -> bytes:
        """The block's Avro data; InvalidPayload when ``data`` is not whole ``codec``."""
        if codec == "null":
            return data
        out = self._snappy(data, where) if codec == "snappy" else self._stream(codec, data, where)
        self.left -= len(out)
        return out

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"compressed blocks inflate to more than {self.limit} bytes "
            "(server.max_inflated_bytes)",
            limit=self.limit,
        )

    def _stream(self, codec: str, data: bytes, where: str) -> bytes:
        inflater = _STREAMING[codec]()
        try:
            out = bytes(inflater.decompress(data, self.left + 1))
        except _ERRORS as exc:
            raise InvalidPayload(f"{where}: block is not valid {codec} data: {exc}") from exc
        if len(out) > self.left:
            raise self._too_large()
        if not inflater.eof:
            raise InvalidPayload(f"{where}: {codec} block is truncated")
        # Bytes after the end are ignored, as Avro's readers do: fastavro's deflate
        # writer leaves three bytes of the zlib checksum there.
        return out

    def _snappy(self, data: bytes, where: str) -> bytes:
        compressed, crc = data[:-_CRC_SIZE], data[-_CRC_SIZE:]
        try:
            if len(data) <= _CRC_SIZE:
                raise ValueError("shorter than its CRC-32")
            if cramjam.snappy.decompress_raw_len(compressed) > self.left:
                raise self._too_large()
            out = bytes(cramjam.snappy.decompress_raw(compressed))
        except (cramjam.DecompressionError, ValueError) as exc:
            raise InvalidPayload(f"{where}: block is not valid snappy data: {exc}") from exc
        if zlib.crc32(out) != int.from_bytes(crc, "big"):
            raise InvalidPayload(f"{where}: snappy block's CRC-32 does not match its inflated data")
        return out
