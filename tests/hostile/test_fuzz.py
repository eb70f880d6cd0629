"""A bounded, seeded fuzz of the three payload formats against ``ingest.payloads``:
whatever the bytes, the only exceptions are ClientErrors (a 4xx), never a crash."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playlog.errors import ClientError
from playlog.ingest.payloads import Limits, decompress, parse
from playlog.registry.catalog import Catalog
from playlog.registry.registry import Registry
from tests.hostile.bodies import (
    GAME,
    JSON,
    OCF,
    SCHEMAS,
    SOE,
    play_datum,
    soe,
    valid_ocf,
)
from tests.support.avro import NODE, linked_list, ocf_block

FUZZ = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LIMITS = Limits(depth=64, inflated_bytes=1_000_000)
SEEDS = {
    OCF: [valid_ocf(0, 3), ocf_block(NODE, 1, linked_list(5))],
    SOE: [soe(SCHEMAS["play"], play_datum(7)), soe(NODE, linked_list(4))],
    JSON: [
        json.dumps([{"event_type": "play", "data": {"seq": 1, "player": "a"}}]).encode(),
        json.dumps(
            [{"event_type": "node", "data": {"v": 1, "next": {"v": 2, "next": None}}}]
        ).encode(),
    ],
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    catalog = Catalog(Path(tmp_path_factory.mktemp("fuzz")) / "catalog.sqlite")
    registry = Registry(catalog, None)
    catalog.add_game(GAME)
    for event_type, schema in SCHEMAS.items():
        registry.register(GAME, event_type, json.dumps(schema))
    try:
        yield registry
    finally:
        catalog.close()


@st.composite
def mutated(draw: st.DrawFn, content_type: str) -> bytes:
    """A seed body with bytes flipped, cut, inserted or spliced."""
    body = bytearray(draw(st.sampled_from(SEEDS[content_type])))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(body)))
        edit = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        if edit == "flip" and at < len(body):
            body[at] = draw(st.integers(0, 255))
        elif edit == "cut":
            del body[at : at + draw(st.integers(1, 8))]
        elif edit == "insert":
            body[at:at] = draw(st.binary(min_size=1, max_size=10))
        else:
            del body[at:]
    return bytes(body)


def check(registry: Registry, content_type: str, body: bytes, encoding: str = "") -> None:
    try:
        inflated = decompress(body, encoding, LIMITS.inflated_bytes)
        parse(registry, GAME, content_type, inflated, 1000, LIMITS)
    except ClientError:
        pass


@pytest.mark.parametrize("content_type", [OCF, SOE, JSON])
@FUZZ
@given(data=st.data())
def test_mutated_bodies_raise_only_client_errors(
    registry: Registry, content_type: str, data: st.DataObject
) -> None:
    check(registry, content_type, data.draw(mutated(content_type)))


@FUZZ
@given(body=st.binary(max_size=200), content_type=st.sampled_from([OCF, SOE, JSON]))
def test_random_bytes_raise_only_client_errors(
    registry: Registry, body: bytes, content_type: str
) -> None:
    check(registry, content_type, body)
    check(registry, content_type, gzip.compress(body, mtime=0)[: len(body) + 10], "gzip")
