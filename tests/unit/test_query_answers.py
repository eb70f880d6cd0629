"""``POST /v1/query`` answers every value a warehouse can return as standard JSON:
durations, non-finite floats and types JSON has no name for included (found by
probing the live server next to the schemathesis run: an INTERVAL was a 500, a NaN
an answer that JSON parsers refuse)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.app import ADMIN, TestClient, app_client

from playlog.ingest.http import to_json
from playlog.storage.local import LocalStore
from playlog.warehouse.duckdb import DuckDBWarehouse


def _strict(text: str) -> Any:
    """Parse as a strict JSON parser (a browser's JSON.parse) would: no NaN, no Infinity."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb", LocalStore(tmp_path / "objects"))
    try:
        with app_client(tmp_path, warehouse) as client:
            yield client
    finally:
        warehouse.close()


def _query(client: TestClient, sql: str) -> list[Any]:
    response = client.post(
        "/v1/query", json={"sql": sql}, headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert response.status_code == 200, response.text
    rows: list[Any] = _strict(response.text)["rows"]
    return rows


def test_an_interval_is_an_iso_8601_duration(client: TestClient) -> None:
    rows = _query(client, "select interval 1 day, interval '1 hour 30 minutes 0.5 seconds', "
                  "interval (-90) second, interval 0 second")  # fmt: skip
    assert rows == [["P1DT0S", "P0DT5400.5S", "-P0DT90S", "P0DT0S"]]


def test_non_finite_floats_are_named_as_strings(client: TestClient) -> None:
    rows = _query(client, "select 'nan'::double, 'inf'::double, '-inf'::float, 1.5::double")
    assert rows == [["NaN", "Infinity", "-Infinity", 1.5]]


def test_non_finite_floats_inside_lists_and_structs(client: TestClient) -> None:
    rows = _query(client, "select ['nan'::double, 2.0], {'a': 'inf'::double}")
    assert rows == [[["NaN", 2.0], {"a": "Infinity"}]]


def test_to_json_writes_any_other_value_as_its_text() -> None:
    value = {"ip": ipaddress.ip_address("10.0.0.1"), "d": dt.timedelta(microseconds=-1)}
    assert _strict(to_json(value).decode()) == {"ip": "10.0.0.1", "d": "-P0DT0.000001S"}
    assert to_json([math.nan]) == b'["NaN"]'
    assert to_json({"x": 1.0}) == b'{"x":1.0}'
