"""Hypothesis strategies for event-type schemas, their rows, and their evolutions.

A field type is raw Avro JSON; named types are named after their field, so a schema
never defines one name twice. ``legal_evolution`` changes a schema the way Avro's
SchemaCompatibility allows and a warehouse column can follow; ``illegal_evolution``
breaks one rule and says which rule registration must name.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

Field = dict[str, Any]
Schema = dict[str, Any]
Step = Callable[[st.DrawFn, Field], Field | list[Field]]
WIDER = {"int": ["long", "float", "double"], "long": ["float", "double"], "float": ["double"]}
NARROWER = {"long": "int", "float": "int", "double": "float"}
PRIMITIVES = ["boolean", "int", "long", "float", "double", "string", "bytes"]
TEXT = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=6)
UTC = dt.UTC


def decimal(precision: int, scale: int) -> dict[str, Any]:
    return {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}


@st.composite
def field_types(draw: st.DrawFn, name: str) -> Any:
    """A type for field ``name``: primitives, nullable ones, logical, named, nested."""
    kind = draw(
        st.sampled_from(
            ["primitive", "nullable", "union", "enum", "fixed", "decimal", "logical", "nested"]
        )
    )
    if kind == "primitive":
        return draw(st.sampled_from(PRIMITIVES))
    if kind == "nullable":
        return ["null", draw(st.sampled_from(PRIMITIVES))]
    if kind == "union":  # a JSON text column
        return draw(st.sampled_from([["int", "string"], ["null", "boolean", "double"]]))
    if kind == "enum":
        symbols = draw(st.lists(st.sampled_from("ABCDE"), min_size=1, max_size=4, unique=True))
        return {"type": "enum", "name": f"E_{name}", "symbols": symbols}
    if kind == "fixed":
        return {"type": "fixed", "name": f"F_{name}", "size": draw(st.integers(1, 4))}
    if kind == "decimal":
        precision = draw(st.integers(1, 30))
        return decimal(precision, draw(st.integers(0, min(precision, 4))))
    if kind == "logical":
        return draw(
            st.sampled_from(
                [
                    {"type": "int", "logicalType": "date"},
                    {"type": "long", "logicalType": "timestamp-millis"},
                ]
            )
        )
    inner = draw(st.sampled_from(["int", "long", "float"]))
    return draw(
        st.sampled_from(
            [
                {"type": "array", "items": inner},
                {"type": "map", "values": inner},
                {"type": "record", "name": f"R_{name}", "fields": [{"name": "x", "type": inner}]},
            ]
        )
    )


@st.composite
def schemas(draw: st.DrawFn) -> Schema:
    count = draw(st.integers(1, 4))
    fields = [{"name": f"f{i}", "type": draw(field_types(f"f{i}"))} for i in range(count)]
    return {"type": "record", "name": "ev", "fields": fields}


def values(avro_type: Any) -> st.SearchStrategy[Any]:
    """Python values of ``avro_type`` as fastavro writes them."""
    if isinstance(avro_type, list):
        return st.one_of(*(values(t) for t in avro_type))
    if isinstance(avro_type, str):
        return _PRIMITIVE_VALUES[avro_type]
    logical, kind = avro_type.get("logicalType"), avro_type["type"]
    if logical == "decimal":
        digits = 10 ** avro_type["precision"] - 1
        scale = avro_type["scale"]
        return st.integers(-digits, digits).map(lambda n: Decimal(n).scaleb(-scale))
    if logical == "date":
        return st.dates(dt.date(1900, 1, 1), dt.date(2200, 1, 1))
    if logical == "timestamp-millis":
        moments = st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1))
        return moments.map(
            lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000, tzinfo=UTC)
        )
    if kind == "enum":
        return st.sampled_from(avro_type["symbols"])
    if kind == "fixed":
        return st.binary(min_size=avro_type["size"], max_size=avro_type["size"])
    if kind == "array":
        return st.lists(values(avro_type["items"]), max_size=3)
    if kind == "map":
        return st.dictionaries(TEXT, values(avro_type["values"]), max_size=3)
    return st.fixed_dictionaries({f["name"]: values(f["type"]) for f in avro_type["fields"]})


_PRIMITIVE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(-(2**31), 2**31 - 1),
    "long": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(width=32, allow_nan=False, allow_infinity=False),
    "double": st.floats(allow_nan=False, allow_infinity=False),
    "string": TEXT,
    "bytes": st.binary(max_size=6),
}


def rows(schema: Schema) -> st.SearchStrategy[list[dict[str, Any]]]:
    row = st.fixed_dictionaries({f["name"]: values(f["type"]) for f in schema["fields"]})
    return st.lists(row, min_size=1, max_size=4)


# Legal steps: each changes one field (returns it changed, or [] to drop it). -----------


def _promote(draw: st.DrawFn, field: Field) -> Field:
    t = field["type"]
    if isinstance(t, str):
        return {**field, "type": draw(st.sampled_from(WIDER[t]))}
    if isinstance(t, list):
        return {**field, "type": ["null", draw(st.sampled_from(WIDER[t[1]]))]}
    key = {"array": "items", "map": "values"}.get(t["type"])
    if key is not None:
        return {**field, "type": {**t, key: draw(st.sampled_from(WIDER[t[key]]))}}
    inner = t["fields"][0]
    wider = {**inner, "type": draw(st.sampled_from(WIDER[inner["type"]]))}
    return {**field, "type": {**t, "fields": [wider]}}


def _promotable(t: Any) -> bool:
    if isinstance(t, str) or (isinstance(t, list) and isinstance(t[1], str)):
        return (t if isinstance(t, str) else t[1]) in WIDER
    if isinstance(t, dict) and t["type"] in ("array", "map"):
        return t.get("items", t.get("values")) in WIDER
    return isinstance(t, dict) and t["type"] == "record" and t["fields"][0]["type"] in WIDER


def _nullable(draw: st.DrawFn, field: Field) -> Field:
    return {**field, "type": ["null", field["type"]]}


def _enum_change(draw: st.DrawFn, field: Field) -> Field:
    symbols = field["type"]["symbols"]
    added = [s for s in "VWXYZ" if draw(st.booleans())] or ["Z"]
    kept = [s for s in symbols if draw(st.booleans())] if len(symbols) > 1 else symbols
    enum = {**field["type"], "symbols": kept + added}
    if len(kept) < len(symbols):  # removed symbols read as the enum's default
        enum["default"] = added[0]
    return {**field, "type": enum}


def _decimal_widen(draw: st.DrawFn, field: Field) -> Field:
    t = field["type"]
    return {**field, "type": {**t, "precision": draw(st.integers(t["precision"], 38))}}


def _rename(draw: st.DrawFn, field: Field) -> Field:
    renamed = {**field, "name": f"r{field['name']}", "aliases": [field["name"]]}
    if isinstance(field["type"], dict) and "name" in field["type"]:  # keep names unique
        renamed["type"] = {**field["type"], "aliases": [field["type"]["name"]]}
        renamed["type"]["name"] += "_r"
    return renamed


def _drop(draw: st.DrawFn, field: Field) -> list[Field]:
    return []


def _nested_field_added(draw: st.DrawFn, field: Field) -> Field:
    avro_type, default = draw(st.sampled_from(ADDED))
    added = {"name": "y", "type": avro_type, "default": default}
    return {**field, "type": {**field["type"], "fields": [*field["type"]["fields"], added]}}


def _add_branch(draw: st.DrawFn, field: Field) -> Field:
    return {**field, "type": [*field["type"], "bytes"]}


def _is_multi_union(t: Any) -> bool:
    return isinstance(t, list) and len([b for b in t if b != "null"]) > 1


def _legal_steps(t: Any) -> list[Step]:
    steps: list[Step] = [_rename, _drop]
    if _promotable(t):
        steps.append(_promote)
    if not isinstance(t, list) and not (isinstance(t, dict) and t["type"] == "record"):
        steps.append(_nullable)
    if isinstance(t, dict) and t["type"] == "enum":
        steps.append(_enum_change)
    if isinstance(t, dict) and t.get("logicalType") == "decimal":
        steps.append(_decimal_widen)
    if _is_multi_union(t):
        steps.append(_add_branch)
    if isinstance(t, dict) and t["type"] == "record":
        steps.append(_nested_field_added)
    return steps


ADDED = [  # (type, default) of fields a new version adds
    ("int", 7),
    ("double", 1.5),
    ("string", "x'y"),
    ("boolean", True),
    (["null", "long"], None),
    ({"type": "array", "items": "int"}, [1, 2]),
]


@st.composite
def legal_evolution(draw: st.DrawFn, schema: Schema) -> Schema:
    """``schema`` with some fields changed legally, maybe one added."""
    fields: list[Field] = []
    for field in copy.deepcopy(schema["fields"]):
        step = draw(st.sampled_from([None, *_legal_steps(field["type"])]))
        changed = field if step is None else step(draw, field)
        fields += changed if isinstance(changed, list) else [changed]
    if not fields or fields == schema["fields"] or draw(st.booleans()):
        avro_type, default = draw(st.sampled_from(ADDED))
        fields.append({"name": "added", "type": avro_type, "default": default})
    return {**schema, "fields": fields}


# Illegal steps: (changed field, the rule registration names), or None if not applicable.

Breaking = tuple[Field, str] | None


def _narrow(t: Any) -> Any:
    if not isinstance(t, str):
        return None
    if t in NARROWER:
        return NARROWER[t]
    if t in ("string", "bytes"):
        return {"string": "bytes", "bytes": "string"}[t]
    return None


def _break_type(field: Field) -> Breaking:
    t = field["type"]
    changed = _narrow(t)
    if changed is not None:
        rule = "string_bytes_change" if t in ("string", "bytes") else "type_change"
        return {**field, "type": changed}, rule
    if isinstance(t, list):  # a branch dropped (a nullable made required): unreadable
        return {**field, "type": t[1:] if len(t) > 2 else t[1]}, "type_change"
    if t in ("int", "boolean"):  # Avro reads an int as [int, string]; no column follows
        return {**field, "type": [t, "string"]}, "column_type_change"
    return None


def _break_named(field: Field) -> Breaking:
    t = field["type"]
    if not isinstance(t, dict):
        return None
    if t["type"] == "enum":
        return {
            **field,
            "type": {**t, "symbols": [*t["symbols"][:-1], "Z"]},
        }, "enum_symbols_removed"
    if t["type"] == "fixed":
        return {**field, "type": {**t, "size": t["size"] + 1}}, "fixed_size_change"
    if t["type"] == "record":
        return {**field, "type": {**t, "name": t["name"] + "_other"}}, "type_change"
    return None


def _break_logical(field: Field) -> Breaking:
    t = field["type"]
    if t == "long":
        return {**field, "type": {"type": "long", "logicalType": "timestamp-millis"}}, (
            "logical_type_change"
        )
    if isinstance(t, dict) and t.get("logicalType") == "decimal":
        scale = t["scale"] + 1 if t["scale"] < t["precision"] else t["scale"] - 1
        narrower = (
            {**t, "precision": t["precision"] - 1} if t["precision"] > t["scale"] + 1 else None
        )
        return {**field, "type": narrower or {**t, "scale": scale}}, "logical_type_change"
    if isinstance(t, dict) and t.get("logicalType") == "date":
        return {**field, "type": "int"}, "logical_type_change"
    return None


@st.composite
def illegal_evolution(draw: st.DrawFn, schema: Schema) -> tuple[Schema, str, str]:
    """``schema`` with one rule broken: (new schema, rule, field)."""
    fields = copy.deepcopy(schema["fields"])
    index = draw(st.integers(0, len(fields) - 1))
    field = fields[index]
    broken = [b for b in (_break_type(field), _break_named(field), _break_logical(field)) if b]
    choices = [*broken, ({"name": "added", "type": "int"}, "new_field_without_default")]
    if len(fields) > 1:  # a new field taking the values of two old ones
        ambiguous = {
            "name": "both",
            "type": "int",
            "aliases": [fields[0]["name"], fields[1]["name"]],
        }
        choices.append((ambiguous, "ambiguous_alias"))
    changed, rule = draw(st.sampled_from(choices))
    if changed["name"] == field["name"]:
        fields[index] = changed
    else:
        fields.append(changed)
    return {**schema, "fields": fields}, rule, changed["name"]
