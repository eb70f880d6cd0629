"""The processor's own check of depth and inflated size (defence in depth: records
accepted before ingest checked them, or by a node with other limits)."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.avro import NODE, linked_list, ocf_block, ocf_of, zigzag

from playlog.avro import single_object
from playlog.avro.limits import Limits
from playlog.contracts import FORMAT_OCF, FORMAT_SINGLE_OBJECT, OffsetRange
from playlog.log.base import Record
from playlog.process.transform import transform_range
from playlog.settings import Settings
from playlog.wiring import Services

LOGIN_V1 = {
    "type": "record",
    "name": "login",
    "fields": [{"name": "player", "type": "string"}, {"name": "level", "type": "int"}],
}
GAME = "g1"
SPAN = OffsetRange("playlog.events", 0, 0, 2)


def record(offset: int, value: bytes, fmt: str) -> Record:
    headers = {"game": GAME, "format": fmt, "received_at_ms": "0", "count": "1"}
    return Record("playlog.events", 0, offset, GAME.encode(), value, headers, 0)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = Services.open(Settings.read(data_dir=tmp_path))
    services.catalog.add_game(GAME)
    services.registry.register(GAME, "node", json.dumps(NODE))
    services.registry.register(GAME, "login", json.dumps(LOGIN_V1))
    try:
        yield services
    finally:
        services.close()


def run(services: Services, records: list[Record]) -> tuple[int, list[str]]:
    result = transform_range(
        SPAN, records, services.registry.lookup, services.registry.latest, services.store
    )
    reasons = [m.headers.get("error", "") for m in result.dead_letters]
    return result.events, reasons


@pytest.mark.parametrize("fmt", [FORMAT_OCF, FORMAT_SINGLE_OBJECT])
def test_data_nested_too_deeply_is_a_dead_letter_never_a_crash(
    services: Services, fmt: str
) -> None:
    node = services.registry.latest(GAME, "node")
    if fmt == FORMAT_OCF:
        deep, fine = ocf_of(NODE, [linked_list(5_000)]), ocf_of(NODE, [linked_list(3)])
    else:
        deep = single_object.frame(node.fingerprint, linked_list(5_000))
        fine = single_object.frame(node.fingerprint, linked_list(3))
    events, reasons = run(services, [record(0, fine, fmt), record(1, deep, fmt)])
    assert events == 1 and len(reasons) == 1
    assert "nested deeper than 64 levels" in reasons[0]


def test_deflate_block_inflating_past_the_limit_is_a_dead_letter(services: Services) -> None:
    datum = zigzag(len("x" * 1000)) + b"x" * 1000 + zigzag(1)
    fine = ocf_of(LOGIN_V1, [datum], "deflate")
    huge = zlib.compress(datum * 90_000)[2:-4]  # 90 MB from ~90 KB
    bomb = ocf_block(LOGIN_V1, 90_000, huge, "deflate")
    events, reasons = run(services, [record(0, fine, FORMAT_OCF), record(1, bomb, FORMAT_OCF)])
    assert events == 1 and len(reasons) == 1
    assert f"more than {Limits().inflated_bytes} bytes" in reasons[0]
