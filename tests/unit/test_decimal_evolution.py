"""A decimal's precision may widen (same scale): a new version under the same hash,
the column widened, and data of both versions loads exactly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.support.avro import fp
from tests.support.evolution import Pipeline, refusal

from playlog.errors import IncompatibleSchema


def decimal(precision: int, scale: int = 2) -> dict[str, Any]:
    return {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}


def schema(price: Any) -> dict[str, Any]:
    return {
        "type": "record",
        "name": "ev",
        "fields": [{"name": "player", "type": "string"}, {"name": "price", "type": price}],
    }


V1, V2 = schema(decimal(9)), schema(decimal(12))


@pytest.fixture
def pipe(tmp_path: Path) -> Iterator[Pipeline]:
    with Pipeline.open(tmp_path) as opened:
        yield opened


def test_widening_a_decimal_registers_a_new_version_under_the_same_hash(pipe: Pipeline) -> None:
    assert fp(V1) == fp(V2)  # the hash ignores logical types
    assert pipe.register(V1) == 1

    assert pipe.register(V2) == 2

    assert ("price", "DECIMAL(12,2)") in pipe.columns()
    assert pipe.register(V2) == 2  # known now: a no-op
    assert pipe.register(V1) == 1


def test_data_of_the_wider_version_loads_exactly(pipe: Pipeline) -> None:
    """Before: the OCF was dead-lettered, 1234567890.12 does not fit DECIMAL(9,2)."""
    pipe.register(V1)
    pipe.register(V2)
    wide = [{"player": "ann", "price": Decimal("1234567890.12")}]

    assert pipe.load(V2, wide) == wide


def test_the_older_version_still_names_its_writer_and_loads(pipe: Pipeline) -> None:
    first, _ = pipe.registry.register("g", "ev", json.dumps(V1))
    second, _ = pipe.registry.register("g", "ev", json.dumps(V2))

    assert pipe.registry.writer_of("g", json.dumps(V1)) == first
    assert pipe.registry.writer_of("g", json.dumps(V2)) == second
    narrow = [{"player": "bob", "price": Decimal("-9999999.99")}]
    assert pipe.load(V1, narrow) == narrow


def test_a_file_made_before_the_widening_loads_with_one_made_after(pipe: Pipeline) -> None:
    """A file of DECIMAL(9,2) still in flight meets one of DECIMAL(12,2) in one load."""
    pipe.register(V1)
    before = pipe.transform(V1, [{"player": "ann", "price": Decimal("1.50")}])
    pipe.register(V2)
    after = pipe.transform(V2, [{"player": "bob", "price": Decimal("1234567890.12")}])

    pipe.warehouse.load([*before, *after])

    assert [r["price"] for r in pipe.rows([*before, *after])] == [
        Decimal("1.50"),
        Decimal("1234567890.12"),
    ]


@pytest.mark.parametrize("new", [decimal(8), decimal(12, 3), decimal(9, 1)])
def test_narrowing_or_rescaling_is_refused_and_changes_nothing(pipe: Pipeline, new: Any) -> None:
    pipe.register(V1)
    before = pipe.state()

    exc = refusal(pipe, schema(new))

    assert isinstance(exc, IncompatibleSchema)
    assert exc.details["field"] == "price"
    assert exc.details["rule"] == "logical_type_change"
    assert pipe.state() == before
