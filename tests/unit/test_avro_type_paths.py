"""Every Avro type x every way an event reaches the processor (OCF on the columnar fast
path, OCF row by row, single-object, JSON): the batch file holds exactly the case's
values (tests/support/avro_types.py; the warehouses' side is the contract suite's)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import fastavro
import pytest
from tests.support.avro import ocf
from tests.support.avro_types import CASES, TypeCase
from tests.support.columnar import batch_file, watch_groups

from playlog.avro import json_events, single_object
from playlog.avro.schema import EventSchema, fingerprint_of
from playlog.contracts import FORMAT_OCF, FORMAT_SINGLE_OBJECT
from playlog.log.base import Record
from playlog.storage.local import LocalStore
from playlog.warehouse.types import DuckDBTypes, PostgresTypes, RedshiftTypes

PATHS = ["ocf_fast", "ocf_rows", "single_object", "json"]


def event_schema(case: TypeCase) -> EventSchema:
    text = json.dumps(case.schema)
    return EventSchema("g", case.name, 1, fingerprint_of(text), text)


def body(case: TypeCase, path: str, schema: EventSchema) -> tuple[bytes, str]:
    if path.startswith("ocf"):
        return ocf(case.schema, [{"v": v} for v in case.values]), FORMAT_OCF
    if path == "json":
        datums = [json_events.encode({"v": v}, schema.parsed, "event") for v in case.json]
    else:
        datums = []
        for value in case.values:
            out = io.BytesIO()
            fastavro.schemaless_writer(out, schema.parsed, {"v": value})
            datums.append(out.getvalue())
    framed = b"".join(single_object.frame(schema.fingerprint, d) for d in datums)
    return framed, FORMAT_SINGLE_OBJECT


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_type_reaches_the_batch_file_exactly_on_every_path(
    case: TypeCase, path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = event_schema(case)
    value, fmt = body(case, path, schema)
    headers = {"game": "g", "format": fmt, "received_at_ms": "1700000000000"}
    record = Record("events", 0, 9, b"g", value, headers, 0)
    groups = watch_groups(monkeypatch)
    table, events = batch_file(LocalStore(tmp_path), [record], schema, path == "ocf_fast")
    assert events == len(case.values)
    assert table.column("v").to_pylist() == case.file
    assert len(groups) == (1 if path == "ocf_fast" and case.fast else 0)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_type_has_its_documented_column_in_every_warehouse(case: TypeCase) -> None:
    (column,) = event_schema(case).columns
    mappers = (DuckDBTypes(), PostgresTypes(), RedshiftTypes())
    assert tuple(m.sql_type(column) for m in mappers) == case.sql
