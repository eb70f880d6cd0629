"""Widening a batch file written before an Avro promotion to the table's types."""

from __future__ import annotations

import pyarrow as pa
import pytest

from playlog.warehouse.files import narrower_than, widen

I32, I64, F32, F64 = pa.int32(), pa.int64(), pa.float32(), pa.float64()


@pytest.mark.parametrize(
    ("old", "new"), [(I32, I64), (I32, F32), (I32, F64), (I64, F32), (I64, F64), (F32, F64)]
)
def test_every_avro_promotion_is_cast(old: pa.DataType, new: pa.DataType) -> None:
    table = pa.table({"n": pa.array([1, None], old), "s": pa.array(["a", "b"])})
    widened = widen(table, {"n": new, "s": I64})
    assert widened.schema.field("n").type == new
    assert widened.column("n").to_pylist() == [1, None]
    assert widened.schema.field("s").type == pa.string()  # not a promotion: as it is


def test_long_to_float_rounds_like_avro_instead_of_failing() -> None:
    table = pa.table({"n": pa.array([2**60 + 1], I64)})
    assert widen(table, {"n": F32}).column("n").to_pylist() == [float(2**60)]


def test_never_narrows() -> None:
    table = pa.table({"n": pa.array([2**40], I64)})
    assert widen(table, {"n": I32}).schema.field("n").type == I64


def test_a_file_wider_than_what_we_believe_means_the_belief_is_stale() -> None:
    table = pa.table({"n": pa.array([1], I64), "s": pa.array(["x"])})
    assert narrower_than(table, {"n": I32})
    assert not narrower_than(table, {"n": I64})
    assert not narrower_than(table, {"n": F64, "s": I32})
