"""What may become a new version of an event type, and the table it makes: pure rules
over the version history (no catalog, no warehouse).

A new version must read what every earlier version wrote (Avro's BACKWARD_TRANSITIVE)
and keep each shared column's type or widen it; the table is every column any version
ever had (``table_columns``)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from playlog.avro.compat import WIDENINGS, check_backward, same_types
from playlog.avro.schema import EventSchema, fingerprint_of, validate_record_schema
from playlog.avro.types import Column, columns_of
from playlog.errors import IncompatibleSchema


def validated(schema_json: str) -> tuple[dict[str, Any], str]:
    """The schema (validated) and its hash."""
    raw = validate_record_schema(schema_json)
    return raw, fingerprint_of(json.dumps(raw, separators=(",", ":")))


def same_version(
    history: list[EventSchema], raw: dict[str, Any], fingerprint: str
) -> EventSchema | None:
    """The version in ``history`` that ``raw`` is. The hash ignores logical types: the
    same hash with another logical type is a new version (refused by the evolution
    checks, unless a decimal widened), not this one."""
    for old in history:
        if old.fingerprint == fingerprint and same_types(old.raw, raw):
            return old
    return None


@lru_cache(maxsize=1024)
def same_logical_types(registered_json: str, header_json: str) -> bool:
    """Cached: a client repeats the same header bytes in every request."""
    return registered_json == header_json or same_types(
        json.loads(registered_json), json.loads(header_json)
    )


def table_columns(history: list[EventSchema], latest: dict[str, Any]) -> list[Column]:
    """The table's columns: every field ever registered (a table never loses a
    column), typed and defaulted as the latest version that has it says."""
    columns: dict[str, Column] = {}
    for schema in [*history, None]:
        for column in columns_of(latest if schema is None else schema.raw):
            columns[column.name] = column
    ordered = [c.name for s in history for c in s.columns] + [c.name for c in columns_of(latest)]
    return [columns[name] for name in dict.fromkeys(ordered)]


def check_evolution(history: list[EventSchema], latest: dict[str, Any]) -> None:
    """Refuse ``latest`` unless it reads what every earlier version wrote and every
    column it shares with them can hold its values.

    Against every version, not only the previous one (Avro's BACKWARD_TRANSITIVE):
    events of any version may still be in flight or replayed, and a table keeps
    every column any version had — a field dropped in v2 and re-added in v3 with
    another type would find its old column."""
    for old in dict((s.fingerprint, s) for s in reversed(history)).values():
        try:
            check_backward(old.raw, latest)
        except IncompatibleSchema as exc:
            exc.details.setdefault("version", old.version)
            if old is not history[-1]:
                exc.message = f"{exc.message} (against version {old.version})"
                exc.args = (exc.message,)
            raise
    check_columns_fit(history, latest)


def check_columns_fit(history: list[EventSchema], latest: dict[str, Any]) -> None:
    """Each column ``latest`` shares with an earlier version (by lower-case name, so
    fields ``A`` and ``a`` are one column) keeps its type or widens along a promotion
    or to a decimal of more digits. Avro may allow more (an int becoming a union of
    int and string, stored as JSON text): no warehouse column follows that in place."""
    before = {c.name: c for s in history for c in s.columns}
    for column in columns_of(latest):
        old = before.get(column.name)
        if old is None or old.kind == column.kind == "json" or _column_follows(old, column):
            continue
        raise IncompatibleSchema(
            f"field {column.field!r} would store {_kind_text(column)} in column "
            f"{column.name!r}, which an earlier version made {_kind_text(old)}; "
            "a column keeps its type (it may only widen: int->long/float/double, "
            "long->float/double, float->double, a decimal to more digits of the same scale)",
            field=column.field,
            # the same field changing type, or another field meeting its column
            rule="column_type_change" if old.field == column.field else "column_type_conflict",
        )


def _column_follows(old: Column, new: Column) -> bool:
    if old.kind == new.kind == "decimal":
        return old.scale == new.scale and old.precision <= new.precision
    if old.kind == new.kind:
        return True
    return new.kind in WIDENINGS.get(old.kind, set())


def _kind_text(column: Column) -> str:
    if column.kind == "decimal":
        return f"decimal({column.precision},{column.scale})"
    return column.kind
