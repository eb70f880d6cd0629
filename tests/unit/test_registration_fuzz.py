"""Registration fuzzed: any schema sequence either registers or is refused with a 4xx,
and a refusal changes nothing (catalog and table as before). Seeded and bounded: it
runs in `make test`; raise ``PLAYLOG_FUZZ_EXAMPLES`` for a longer hunt."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from playlog.errors import ClientError
from playlog.registry.catalog import Catalog
from playlog.registry.registry import Registry
from playlog.storage.local import LocalStore
from playlog.warehouse.duckdb import DuckDBWarehouse

EXAMPLES = int(os.environ.get("PLAYLOG_FUZZ_EXAMPLES", "60"))

PRIMITIVES = ["null", "boolean", "int", "long", "float", "double", "string", "bytes"]
LOGICAL = [
    {"type": "int", "logicalType": "date"},
    {"type": "int", "logicalType": "time-millis"},
    {"type": "long", "logicalType": "timestamp-millis"},
    {"type": "long", "logicalType": "timestamp-micros"},
    {"type": "long", "logicalType": "local-timestamp-micros"},
    {"type": "string", "logicalType": "uuid"},
    {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2},
    {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
    {"type": "bytes", "logicalType": "decimal", "precision": 50, "scale": 0},
]
NAMES = ["a", "A", "b", "score", "Score", "ts", "_x"]
# JSON values of every shape, the right one for a type or not.
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.sampled_from(["x", "y"]), st.integers(-3, 3), max_size=2),
)


def avro_types(depth: int = 0) -> st.SearchStrategy[Any]:
    simple = st.one_of(st.sampled_from(PRIMITIVES), st.sampled_from(LOGICAL))
    if depth >= 2:
        return simple
    inner = avro_types(depth + 1)
    named = st.integers(0, 10**6).map(str)
    return st.one_of(
        simple,
        st.builds(lambda t: ["null", t], simple),
        st.builds(lambda t: {"type": "array", "items": t}, inner),
        st.builds(lambda t: {"type": "map", "values": t}, inner),
        st.builds(
            lambda n, s: {"type": "enum", "name": f"e{n}", "symbols": s},
            named,
            st.lists(st.sampled_from(["RED", "BLUE", "GREEN"]), min_size=1, unique=True),
        ),
        st.builds(
            lambda n, size: {"type": "fixed", "name": f"f{n}", "size": size},
            named,
            st.integers(1, 4),
        ),
        st.builds(
            lambda n, t: {"type": "record", "name": f"r{n}", "fields": [{"name": "x", "type": t}]},
            named,
            inner,
        ),
    )


@st.composite
def fields(draw: st.DrawFn) -> dict[str, Any]:
    field: dict[str, Any] = {"name": draw(st.sampled_from(NAMES)), "type": draw(avro_types())}
    if draw(st.booleans()):
        field["default"] = draw(VALUES)
    return field


SCHEMAS = st.lists(fields(), min_size=1, max_size=4).map(
    lambda fs: {"type": "record", "name": "ev", "fields": fs}
)


def _state(registry: Registry, warehouse: DuckDBWarehouse) -> tuple[Any, ...]:
    columns = warehouse.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'g' ORDER BY ordinal_position"
    ).rows
    return tuple((s.version, s.fingerprint) for s in registry.catalog.schemas("g")), tuple(columns)


@seed(20261202)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(SCHEMAS, min_size=1, max_size=3))
def test_registration_registers_or_refuses_and_a_refusal_changes_nothing(
    versions: list[dict[str, Any]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        warehouse = DuckDBWarehouse(root / "w.duckdb", LocalStore(root / "objects"))
        catalog = Catalog(root / "catalog.sqlite")
        try:
            catalog.add_game("g")
            registry = Registry(catalog, warehouse)
            for schema in versions:
                before = _state(registry, warehouse)
                try:
                    registry.register("g", "ev", json.dumps(schema))
                except ClientError as exc:
                    assert 400 <= exc.status < 500
                    assert exc.message
                    assert _state(registry, warehouse) == before
        finally:
            catalog.close()
            warehouse.close()
