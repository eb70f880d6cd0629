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
from playlog.contracts import FORMAT_OCF, FORMAT_SINGLE_OBJECT, OffsetRange, RangeResult
from playlog.engine import spark
from playlog.log.base import Message, Record
from playlog.process.transform import transform_range
from playlog.settings import Settings
from playlog.wiring import Services, open_engine

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


# Past the default limits (64 levels, 80 MiB inflated), within these.
RAISED = {"max_nesting_depth": 300, "max_inflated_bytes": 100 * 2**20}


def _engine_run(services: Services, engine: str, values: list[tuple[bytes, str]]) -> RangeResult:
    """Append ``values`` as ingest does and process them with ``engine``."""
    topic = services.settings.log.data_topic
    messages = [
        Message(GAME.encode(), value, record(0, value, fmt).headers) for value, fmt in values
    ]
    [(partition, first), *_] = services.log.append(topic, messages)
    span = OffsetRange(topic, partition, first, first + len(values) - 1)
    if engine == "in-process":
        engine_ = open_engine(services.settings, services.log, services.registry, services.store)
        return engine_.execute([span])[0]
    schemas = services.catalog.schemas()
    try:
        [result] = spark._run_ranges(services.settings, schemas, [span])
    finally:
        for log_, _ in spark._worker_adapters.values():
            log_.close()
        spark._worker_adapters.clear()
    return result


@pytest.mark.parametrize("engine", ["in-process", "spark executor"])
def test_records_within_the_configured_limits_are_processed(
    tmp_path: Path, engine: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Ingest accepts by the server's limits: the processor must not dead-letter
    what ingest accepted (it checked every record against the defaults)."""
    services = Services.open(Settings.read(data_dir=tmp_path, server=RAISED))
    try:
        services.catalog.add_game(GAME)
        node = services.registry.register(GAME, "node", json.dumps(NODE))[0]
        services.registry.register(GAME, "login", json.dumps(LOGIN_V1))
        datum = zigzag(1000) + b"x" * 1000 + zigzag(1)  # 1,003 bytes
        # zstandard: the columnar path inflates it again (polars reads deflate itself)
        inflating = ocf_of(LOGIN_V1, [datum] * 85_000, "zstandard")  # 85 MB inflated
        values = [
            (ocf_of(NODE, [linked_list(100)]), FORMAT_OCF),  # 200 levels
            (single_object.frame(node.fingerprint, linked_list(100)), FORMAT_SINGLE_OBJECT),
            (inflating, FORMAT_OCF),
            (ocf_of(NODE, [linked_list(200)]), FORMAT_OCF),  # 400 levels: still too deep
        ]
        result = _engine_run(services, engine, values)
    finally:
        services.close()
    reasons = [m.headers.get("error", "") for m in result.dead_letters]
    assert len(reasons) == 1 and "nested deeper than 300 levels" in reasons[0], reasons
    assert result.events == 2 + 85_000
    assert "columnar decoding failed" not in caplog.text  # its inflater has the limit too
