"""Inflating one Avro block (200 kB of telemetry-like rows) with each codec's candidate
libraries: MB/s of inflated output, one core.

    python benchmarks/codecs.py

Measured here (2 shared cores, two runs, the busier second): snappy cramjam
2650/1070; zstandard cramjam 1620/525, backports.zstd 1050/390; bzip2 stdlib 100/37,
cramjam 92/40; xz stdlib 104/44, cramjam 95/57; deflate zlib 660/295.
playlog uses backports.zstd (bounded
``max_length`` streaming; cramjam's one-shot call cannot stop at a budget), the
standard library for bzip2 and xz, cramjam for snappy (its length header is checked
before inflating).
"""

from __future__ import annotations

import bz2
import lzma
import sys
import time
import zlib
from collections.abc import Callable

import cramjam

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

ROWS = b"".join(
    b"p%05d\x02%04x" % (i % 977, i * 7919 % 65536) + bytes([i % 7]) * 20 for i in range(8000)
)
DATA = ROWS[:200_000]


def bench(name: str, blob: bytes, inflate: Callable[[bytes], object], runs: int) -> None:
    started = time.perf_counter()
    for _ in range(runs):
        out = inflate(blob)
    elapsed = time.perf_counter() - started
    assert bytes(out) == DATA, name  # type: ignore[call-overload]
    rate = len(DATA) * runs / elapsed / 1e6
    print(f"{name:24s} {rate:8.0f} MB/s  (ratio {len(DATA) / len(blob):.1f})")


def main() -> None:
    bound = len(DATA) + 1
    bench(
        "snappy cramjam",
        bytes(cramjam.snappy.compress_raw(DATA)),
        cramjam.snappy.decompress_raw,
        200,
    )
    packed = zstd.compress(DATA)
    bench(
        "zstandard backports", packed, lambda b: zstd.ZstdDecompressor().decompress(b, bound), 200
    )
    bench("zstandard cramjam", packed, cramjam.zstd.decompress, 200)
    packed = bz2.compress(DATA)
    bench("bzip2 stdlib", packed, lambda b: bz2.BZ2Decompressor().decompress(b, bound), 50)
    bench("bzip2 cramjam", packed, cramjam.bzip2.decompress, 50)
    packed = lzma.compress(DATA)
    bench("xz stdlib", packed, lambda b: lzma.LZMADecompressor().decompress(b, bound), 50)
    bench("xz cramjam", packed, cramjam.xz.decompress, 50)
    packed = zlib.compress(DATA)[2:-4]
    bench("deflate zlib", packed, lambda b: zlib.decompressobj(-15).decompress(b, bound), 200)


if __name__ == "__main__":
    main()
