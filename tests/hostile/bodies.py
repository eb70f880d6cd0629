"""Hostile bodies, built by hand (fastavro itself crashes on some of them), and the
schemas they are written against. ``python -m tests.hostile.bodies`` rewrites the
fuzz corpus in ``corpus/`` (names: ``<format>-<what>.bin``)."""

from __future__ import annotations

import gzip
import io
import json
import zlib
from pathlib import Path
from typing import Any

import fastavro

from tests.support.avro import NODE, fp, linked_list, ocf_block, zigzag

GAME = "hostile"
OCF = "application/avro"
SOE = "application/vnd.apache.avro+binary"
JSON = "application/json"
CONTENT_TYPES = {"ocf": OCF, "soe": SOE, "json": JSON}
CORPUS = Path(__file__).parent / "corpus"

PLAY = {
    "type": "record",
    "name": "play",
    "fields": [{"name": "seq", "type": "long"}, {"name": "player", "type": "string"}],
}
NULLS = {
    "type": "record",
    "name": "nulls",
    "fields": [{"name": "xs", "type": {"type": "array", "items": "null"}}],
}
SCHEMAS: dict[str, dict[str, Any]] = {"play": PLAY, "node": NODE, "nulls": NULLS}


def soe(schema: dict[str, Any], datum: bytes) -> bytes:
    return b"\xc3\x01" + bytes.fromhex(fp(schema)) + datum


def play_datum(seq: int) -> bytes:
    return zigzag(seq) + zigzag(2) + b"p1"


def valid_ocf(first: int, n: int) -> bytes:
    out = io.BytesIO()
    rows = [{"seq": first + i, "player": "p1"} for i in range(n)]
    fastavro.writer(out, fastavro.parse_schema(PLAY), rows, codec="deflate")
    return out.getvalue()


def deep_json(nodes: int) -> bytes:
    value: Any = None
    for _ in range(nodes):
        value = {"v": 1, "next": value}
    return json.dumps([{"event_type": "node", "data": value}]).encode()


# name -> (content type, body, Content-Encoding); each answers 4xx, or 202 and the
# processor dead-letters it
def hostile() -> dict[str, tuple[str, bytes, str]]:
    deflate_bomb = zlib.compress(play_datum(1) * 30_000_000)[2:-4]  # 150 MB from ~150 KB
    return {
        "deep-soe": (SOE, soe(NODE, linked_list(5_000)), ""),
        "deep-ocf": (OCF, ocf_block(NODE, 1, linked_list(5_000)), ""),
        "deep-json": (JSON, deep_json(400), ""),
        "deflate-bomb": (OCF, ocf_block(PLAY, 30_000_000, deflate_bomb, "deflate"), ""),
        "gzip-bomb": (JSON, gzip.compress(b" " * 200_000_000), "gzip"),
        "gzip-members": (JSON, gzip.compress(b"", mtime=0) * 115_000, "gzip"),
        "null-array-bomb": (SOE, soe(NULLS, zigzag(2**62) + zigzag(0)), ""),
        "short-block": (OCF, ocf_block(PLAY, 2, play_datum(1)), ""),
    }


def corpus() -> dict[str, bytes]:
    """Small malformed bodies of every format (kept in the repo, see ``main``)."""
    good_ocf = valid_ocf(0, 3)
    good_soe = soe(PLAY, play_datum(1))
    return {
        "ocf-bad-magic.bin": b"Obj\x02" + good_ocf[4:],
        "ocf-truncated.bin": good_ocf[:-9],
        "ocf-negative-count.bin": ocf_block(PLAY, -3, play_datum(1)),
        "ocf-huge-size.bin": good_ocf[:-20] + zigzag(2**62),
        "ocf-codec-snappy.bin": ocf_block(PLAY, 1, play_datum(1), "snappy"),
        "ocf-garbage-deflate.bin": ocf_block(PLAY, 1, b"\xff" * 30, "deflate"),
        "ocf-unknown-schema.bin": ocf_block({**PLAY, "name": "other"}, 1, play_datum(1)),
        "ocf-union-out-of-range.bin": ocf_block(NODE, 1, zigzag(1) + zigzag(7)),
        "soe-no-marker.bin": b"\xc3\x02" + good_soe[2:],
        "soe-truncated.bin": good_soe[:-1],
        "soe-huge-string.bin": soe(PLAY, zigzag(1) + zigzag(2**62)),
        "soe-negative-string.bin": soe(PLAY, zigzag(1) + zigzag(-5)),
        "soe-bad-utf8.bin": soe(PLAY, zigzag(1) + zigzag(2) + b"\xff\xfe"),
        "soe-header-only.bin": good_soe[:10],
        "json-not-array.bin": b'{"event_type": "play"}',
        "json-deep-brackets.bin": b"[" * 50_000 + b"]" * 50_000,
        "json-huge-int.bin": b'[{"event_type": "play", "data": {"seq": 1e999, "player": "x"}}]',
        "json-lone-surrogate.bin": (
            b'[{"event_type": "play", "data": {"seq": 1, "player": "\\ud800"}}]'
        ),
        "json-wrong-types.bin": b'[{"event_type": "play", "data": {"seq": "1", "player": 2}}]',
        "gzip-truncated.bin": gzip.compress(b"[]" * 1000)[:-6],
        "gzip-junk-after.bin": gzip.compress(b"[]") + b"junk",
    }


def main() -> None:
    CORPUS.mkdir(exist_ok=True)
    for name, body in corpus().items():
        (CORPUS / name).write_bytes(body)


if __name__ == "__main__":
    main()
