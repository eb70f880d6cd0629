"""Every block codec of Avro 1.12 (null, deflate, snappy, zstandard, bzip2, xz): read
exactly, damage refused (422), inflation bounded (413) -- on ingest's check and in
the processor's own."""

from __future__ import annotations

import io
import json
import zlib
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.support.avro import CODECS, compress, ocf, ocf_block

from playlog.avro import ocf as ocf_module
from playlog.avro.codecs import Inflater
from playlog.avro.limits import Limits, check_ocf
from playlog.avro.schema import EventSchema, fingerprint_of
from playlog.contracts import OffsetRange
from playlog.errors import InvalidPayload, PayloadTooLarge
from playlog.log.base import Record
from playlog.process import columnar
from playlog.process.transform import _transform
from playlog.storage.local import LocalStore

SCHEMA = {
    "type": "record",
    "name": "login",
    "fields": [{"name": "player", "type": "string"}, {"name": "level", "type": "int"}],
}
ROWS = [{"player": f"p{i}" * (i % 5), "level": i} for i in range(300)]
COMPRESSED = [c for c in CODECS if c != "null"]


def check(body: bytes, budget: int = 1 << 20) -> None:
    check_ocf(body, ocf_module.walk(body), lambda c: SCHEMA, Limits(inflated_bytes=budget))


@pytest.mark.parametrize("codec", CODECS)
def test_fastavro_containers_of_every_codec_pass_and_inflate_to_their_blocks(codec: str) -> None:
    body = ocf(SCHEMA, ROWS, codec, sync_interval=500)
    (container,) = ocf_module.walk(body)
    assert container.codec == codec and container.count == 300
    check(body)
    inflater = Inflater(1 << 20)
    data = b"".join(
        inflater.inflate(codec, body[start:end], "here")
        for _, start, end in ocf_module.blocks(body, container)
    )
    expected = io.BytesIO()
    for row in ROWS:
        fastavro.schemaless_writer(expected, fastavro.parse_schema(SCHEMA), row)
    assert data == expected.getvalue()


@pytest.mark.parametrize("codec", COMPRESSED)
def test_a_bomb_in_every_codec_is_refused_with_413(codec: str) -> None:
    datum = b"\x02x\x02"
    bomb = ocf_block(SCHEMA, 1, compress(codec, datum + b"\x00" * (64 << 20)), codec)
    assert len(bomb) < (64 << 20) // 20  # snappy packs zeros 21:1, the others far more
    with pytest.raises(PayloadTooLarge) as info:
        check(bomb, budget=1 << 20)
    assert info.value.status == 413 and info.value.details == {"limit": 1 << 20}
    assert "server.max_inflated_bytes" in info.value.message
    # the budget is for the whole body: blocks each within it, together over it
    fine = ocf_block(SCHEMA, 1, compress(codec, datum + b"\x00" * 600_000), codec)
    check(fine, budget=1 << 20)
    with pytest.raises(PayloadTooLarge):
        check(fine + fine, budget=1 << 20)


@pytest.mark.parametrize("codec", COMPRESSED)
def test_damaged_blocks_of_every_codec_are_422_naming_the_codec(codec: str) -> None:
    good = compress(codec, b"\x02x\x02" * 1000)
    for damaged in (good[: len(good) // 2], b"\xff" * 40 + good[40:]):
        with pytest.raises(InvalidPayload) as info:
            check(ocf_block(SCHEMA, 1000, damaged, codec))
        assert info.value.status == 422
        assert codec in info.value.message and "block at byte" in info.value.message


def test_a_snappy_block_whose_crc_does_not_match_is_422() -> None:
    data = b"\x02x\x02" * 10
    good = compress("snappy", data)
    check(ocf_block(SCHEMA, 10, good, "snappy"))
    wrong = good[:-4] + (zlib.crc32(data) ^ 1).to_bytes(4, "big")
    with pytest.raises(InvalidPayload, match="CRC-32") as info:
        check(ocf_block(SCHEMA, 10, wrong, "snappy"))
    assert info.value.status == 422
    little_endian = good[:-4] + zlib.crc32(data).to_bytes(4, "little")
    with pytest.raises(InvalidPayload, match="CRC-32"):
        check(ocf_block(SCHEMA, 10, little_endian, "snappy"))


def test_a_codec_outside_the_spec_is_refused_naming_the_supported_ones() -> None:
    with pytest.raises(InvalidPayload) as info:
        ocf_module.walk(ocf_block(SCHEMA, 1, b"\x02x\x02", "lz4"))
    assert info.value.message == (
        "container at byte 0: codec 'lz4' not supported; use one of "
        "['bzip2', 'deflate', 'null', 'snappy', 'xz', 'zstandard']"
    )


# --- the processor: both paths read every codec ------------------------------------


def _schema(raw: dict[str, Any]) -> EventSchema:
    text = json.dumps(raw)
    return EventSchema("g", raw["name"], 1, fingerprint_of(text), text)


def _transform_files(tmp: Path, codec: str, fast: bool) -> pa.Table:
    writer = _schema(SCHEMA)
    body = ocf(SCHEMA, ROWS[:150], codec, sync_interval=300) + ocf(SCHEMA, ROWS[150:], codec)
    headers = {"game": "g", "format": "ocf", "received_at_ms": "1700000000000"}
    records = [Record("events", 0, 5, b"g", body, headers, 0)]
    store = LocalStore(tmp)
    span = OffsetRange("events", 0, 5, 5)
    result = _transform(span, records, lambda g, f: writer, lambda g, e: writer, store, fast)
    assert result.dead_letters == [] and result.events == 300
    (task,) = result.tasks
    return pq.read_table(io.BytesIO(store.get(task.key)))


@pytest.mark.parametrize("codec", CODECS)
def test_the_processor_reads_every_codec_on_both_paths(
    tmp_path: Path, codec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fallback(self: columnar.SchemaGroup) -> Any:
        try:
            return to_arrow(self)
        except columnar.FastPathFailed as exc:
            raise AssertionError(f"the fast path failed on {codec}: {exc}") from exc

    to_arrow = columnar.SchemaGroup.to_arrow
    monkeypatch.setattr(columnar.SchemaGroup, "to_arrow", no_fallback)
    fast = _transform_files(tmp_path / "fast", codec, fast=True)
    rows = _transform_files(tmp_path / "rows", codec, fast=False)
    assert fast.equals(rows)
    assert fast.select(["player", "level"]).to_pylist() == ROWS


def test_header_metadata_that_is_not_text_loads_on_both_paths(tmp_path: Path) -> None:
    """As Apache Avro's own share/test/data/syncInMeta.avro: a metadata value holding
    the sync marker's raw bytes. fastavro's container reader fails on it (not UTF-8);
    playlog reads the blocks itself."""
    writer = _schema(SCHEMA)
    datums = [b"\x04ab\x02", b"\x00\x04"]
    body = ocf_block(SCHEMA, 2, compress("deflate", b"".join(datums)), "deflate",
                     extra={"user.sync": b"\xd7\x9a0123456789abcdef"})  # fmt: skip
    headers = {"game": "g", "format": "ocf", "received_at_ms": "0"}
    tables = []
    for fast in (True, False):
        store = LocalStore(tmp_path / str(fast))
        records = [Record("events", 0, 5, b"g", body, headers, 0)]
        span = OffsetRange("events", 0, 5, 5)
        result = _transform(span, records, lambda g, f: writer, lambda g, e: writer, store, fast)
        assert result.dead_letters == [] and result.events == 2
        tables.append(pq.read_table(io.BytesIO(store.get(result.tasks[0].key))))
    assert tables[0].equals(tables[1])
    assert tables[0].select(["player", "level"]).to_pylist() == [
        {"player": "ab", "level": 1},
        {"player": "", "level": 2},
    ]


@pytest.mark.parametrize("datums", [[b"\x02x\x02"], [b"\x02x\x02"] * 3], ids=["fewer", "more"])
def test_a_block_holding_other_than_its_count_dead_letters_its_record(
    tmp_path: Path, datums: list[bytes]
) -> None:
    writer = _schema(SCHEMA)
    body = ocf_block(SCHEMA, 2, compress("zstandard", b"".join(datums)), "zstandard")
    headers = {"game": "g", "format": "ocf", "received_at_ms": "0"}
    records = [Record("events", 0, 5, b"g", body, headers, 0)]
    span = OffsetRange("events", 0, 5, 5)
    store = LocalStore(tmp_path)
    result = _transform(span, records, lambda g, f: writer, lambda g, e: writer, store, False)
    assert result.tasks == [] and len(result.dead_letters) == 1
