"""Schema evolution, property-based, through the real registration, transform and load
on DuckDB: for a random schema and a random legal evolution, data written with the old
version is held by the warehouse exactly as fastavro reads it with the new one; a
random illegal evolution is refused, naming the field and rule, and changes nothing.

Seeded and bounded for `make test`; raise ``PLAYLOG_FUZZ_EXAMPLES`` for a longer hunt.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import itertools
import json
import os
import struct
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, example, given, seed, settings
from hypothesis import strategies as st
from tests.support.evolution import Pipeline, refusal
from tests.support.schemas import (
    Schema,
    decimal,
    illegal_evolution,
    legal_evolution,
    rows,
    schemas,
)

from playlog.avro.types import Column, columns_of
from playlog.errors import IncompatibleSchema

# A tenth of the registration fuzzer's count: each example registers, transforms and loads.
EXAMPLES = max(1, int(os.environ.get("PLAYLOG_FUZZ_EXAMPLES", "60")) // 10)
BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
_GAMES = (f"g{n}" for n in itertools.count())


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """One warehouse and catalog for every example; each example gets its own game."""
    with Pipeline.open(tmp_path_factory.mktemp("evolution")) as opened:
        yield opened


def read_as(writer: Schema, reader: Schema, row: dict[str, Any]) -> dict[str, Any]:
    """What fastavro reads of ``row`` written with ``writer``, with ``reader``."""
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(writer), row)
    out.seek(0)
    parsed_writer, parsed_reader = fastavro.parse_schema(writer), fastavro.parse_schema(reader)
    read = fastavro.schemaless_reader(out, parsed_writer, parsed_reader)
    assert isinstance(read, dict)
    return read


def _json_value(value: Any) -> Any:
    # JSON text columns hold bytes as base64 and dates, times and decimals as strings.
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dt.date | dt.time | dt.datetime):
        return value.isoformat()
    return str(value) if isinstance(value, Decimal) else value


def as_held(column: Column, value: Any) -> Any:
    """``value`` (as fastavro reads it) as the column's warehouse type holds it."""
    if value is None:
        return None
    if column.kind == "json":
        return json.loads(json.dumps(value, default=_json_value))
    if column.kind == "float":  # a REAL column: an int or long read as float rounds
        return struct.unpack("f", struct.pack("f", value))[0]
    return value


def held(column: Column, value: Any) -> Any:
    return json.loads(value) if column.kind == "json" and value is not None else value


Case = tuple[Schema, Schema, list[dict[str, Any]], list[dict[str, Any]]]


@st.composite
def legal_cases(draw: st.DrawFn) -> Case:
    """(old, new, rows written with old, rows written with new)."""
    old = draw(schemas())
    new = draw(legal_evolution(old))
    return old, new, draw(rows(old)), draw(rows(new))


# Always run, whatever the draw: the evolutions that once lost data.
_V1 = {
    "type": "record",
    "name": "ev",
    "fields": [{"name": "f0", "type": decimal(9, 2)}, {"name": "f1", "type": "int"}],
}
_V2 = {
    **_V1,
    "fields": [
        {"name": "f0", "type": decimal(12, 2)},
        {"name": "rf1", "type": "long", "aliases": ["f1"]},
        {"name": "added", "type": "string", "default": "x"},
    ],
}
_WRITTEN_V1 = [{"f0": Decimal("-9999999.99"), "f1": 1}, {"f0": Decimal("0.01"), "f1": 2}]
_WRITTEN_V2 = [{"f0": Decimal("1234567890.12"), "rf1": 2**40, "added": "y"}]


@seed(20261202)
@BOUNDED
@example((_V1, _V2, _WRITTEN_V1, _WRITTEN_V2))
@given(legal_cases())
def test_a_legal_evolution_loads_what_fastavro_reads_with_the_new_version(
    shared: Pipeline, case: Case
) -> None:
    old, new, written_old, written_new = case
    pipe = shared.new_game(next(_GAMES))
    pipe.register(old)
    assert pipe.register(new) == 2, json.dumps(new)

    for writer, written in ((old, written_old), (new, written_new)):
        loaded = pipe.load(writer, written)

        columns = columns_of(new)
        expected = [read_as(writer, new, row) for row in written]
        assert [{c.name: held(c, row[c.name]) for c in columns} for row in loaded] == [
            {c.name: as_held(c, row[c.field]) for c in columns} for row in expected
        ]


@st.composite
def illegal_cases(draw: st.DrawFn) -> tuple[Schema, tuple[Schema, str, str]]:
    old = draw(schemas())
    return old, draw(illegal_evolution(old))


@seed(20261202)
@BOUNDED
@given(illegal_cases())
def test_an_illegal_evolution_is_refused_naming_field_and_rule_and_changes_nothing(
    shared: Pipeline, case: tuple[Schema, tuple[Schema, str, str]]
) -> None:
    old, (new, rule, field) = case
    pipe = shared.new_game(next(_GAMES))
    pipe.register(old)
    before = pipe.state()

    refused = refusal(pipe, new)

    assert isinstance(refused, IncompatibleSchema), json.dumps(new)
    assert refused.status == 409
    assert (refused.details["field"], refused.details["rule"]) == (field, rule)
    assert pipe.state() == before


def test_a_renamed_field_loads_each_rows_own_value(tmp_path: Path) -> None:
    """Found by the property above: the fast path filled a field renamed with aliases
    with the first row's value, as if it were a default."""
    old = {"type": "record", "name": "ev", "fields": [{"name": "f0", "type": "int"}]}
    renamed = {"name": "rf0", "type": "int", "aliases": ["f0"]}
    with Pipeline.open(tmp_path) as pipe:
        pipe.register(old)
        pipe.register({**old, "fields": [renamed]})

        loaded = pipe.load(old, [{"f0": 0}, {"f0": 1}, {"f0": 5}])

    assert [row["rf0"] for row in loaded] == [0, 1, 5]
    assert [row["f0"] for row in loaded] == [None, None, None]  # the old column stays


def test_bytes_in_a_union_that_also_holds_string_load_as_bytes(tmp_path: Path) -> None:
    """Found by the property above: the processor resolved data of the latest version
    against itself, and fastavro's first-match union resolution read bytes as string
    (text in the JSON column, or a dead letter for bytes that are not UTF-8)."""
    either = {"name": "v", "type": ["int", "string", "bytes"]}
    schema = {"type": "record", "name": "ev", "fields": [either]}
    with Pipeline.open(tmp_path) as pipe:
        pipe.register(schema)

        loaded = pipe.load(schema, [{"v": b"\x80"}, {"v": "\x80"}, {"v": 3}])

    assert [json.loads(row["v"]) for row in loaded] == ["gA==", "\x80", 3]  # base64, text
