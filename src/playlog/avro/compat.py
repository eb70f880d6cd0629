"""Backward compatibility of event-type schemas: can the new version read old events?

The processor resolves every row to the table's latest schema (Avro schema
resolution, latest version as reader), and events written with the previous version
may still be in flight or replayed. So a new version is accepted only if it can read
everything the previous one wrote: Apache Avro's ``SchemaCompatibility`` (reader =
new, writer = old; promotions, unions, enum defaults, field defaults and aliases,
fixed sizes, names and aliases), stricter only where a warehouse column cannot follow:

- string <-> bytes is refused (``string_bytes_change``): a column (or a JSON text
  column's values) cannot switch between text and binary;
- a logical type may not change (``logical_type_change``): the column was created
  from it (millis must not become micros, a long a timestamp, a decimal change scale)
  -- except a decimal's precision widening with the same scale, which its unscaled
  bytes and a wider DECIMAL column both follow;
- a field matching two old fields by name and aliases (``ambiguous_alias``), which
  Avro Java refuses too (by an exception rather than a verdict).
"""

from __future__ import annotations

from typing import Any

import fastavro
from fastavro.schema import SchemaParseException

from playlog.avro.logical import valid_logical
from playlog.avro.types import PROMOTIONS
from playlog.errors import BadRequest, IncompatibleSchema

_NAMED = ("record", "enum", "fixed")
_TEXT_BINARY = {"string", "bytes"}
# Avro's promotions without string <-> bytes, which no column follows (writer -> readers).
WIDENINGS = {k: v - _TEXT_BINARY for k, v in PROMOTIONS.items() if k not in _TEXT_BINARY}
_PROMOTIONS_TEXT = "allowed promotions: int->long/float/double, long->float/double, float->double"


def same_types(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two schemas with the same fingerprint also agree on every logical type
    (the fingerprint's canonical form drops them)."""
    return _logical_types(a) == _logical_types(b)


def _logical_types(avro_type: Any) -> list[str | None]:
    """The logical type (or None) of every type in a raw schema, in document order: one
    entry per type however it is spelled, ``"string"`` or ``{"type": "string", ...}``
    with properties outside the fingerprint (Avro Java's generated code writes
    ``"avro.java.string"`` on every string), so the same positions line up."""
    if isinstance(avro_type, list):  # a union
        return [t for branch in avro_type for t in _logical_types(branch)]
    if not isinstance(avro_type, dict):  # a primitive's or a named type's name
        return [None]
    if isinstance(avro_type.get("type"), dict | list):  # a type wrapped in {"type": ...}
        return _logical_types(avro_type["type"])
    inner = [f.get("type") for f in avro_type.get("fields", ()) if isinstance(f, dict)]
    inner += [avro_type[key] for key in ("items", "values") if key in avro_type]
    return [_logical(avro_type)] + [t for child in inner for t in _logical_types(child)]


def check_backward(old: dict[str, Any], new: dict[str, Any]) -> None:
    """Raise IncompatibleSchema unless ``new`` (reader) can read data written with ``old``.

    Both are raw JSON Avro record schemas. The error names the dotted path of the
    offending field and the rule it breaks, for the 409 answer of registration.
    """
    checker = _Checker()
    checker.check(checker.parse(old, "old"), checker.parse(new, "new"), "")


class _Checker:
    def __init__(self) -> None:
        # fastavro fills these with fullname -> definition; parsed schemas refer to
        # named types by fullname, so one lookup per reference resolves them.
        self.names: dict[str, dict[str, Any]] = {"old": {}, "new": {}}
        # Record pairs already being compared: a recursive record (a linked list,
        # a tree) would otherwise be compared forever.
        self.seen: set[tuple[str, str]] = set()

    def parse(self, schema: dict[str, Any], side: str) -> Any:
        if not isinstance(schema, dict) or schema.get("type") != "record":
            raise BadRequest(f"the {side} schema must be an Avro record")
        try:
            return fastavro.parse_schema(schema, named_schemas=self.names[side])
        except (SchemaParseException, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise BadRequest(f"invalid Avro schema ({side}): {exc}") from exc

    def resolve(self, avro_type: Any, side: str) -> Any:
        if isinstance(avro_type, str):
            return self.names[side].get(avro_type, avro_type)
        return avro_type

    def check(self, old: Any, new: Any, path: str) -> None:
        old, new = self.resolve(old, "old"), self.resolve(new, "new")
        # An old union value carries its branch, so every branch must be readable;
        # a plain old type is a union of one.
        for branch in old if isinstance(old, list) else [old]:
            branch = self.resolve(branch, "old")
            candidates = [self.resolve(b, "new") for b in (new if isinstance(new, list) else [new])]
            self.check_matched(branch, _target(branch, candidates, old, new, path), path)

    def check_matched(self, old: Any, new: Any, path: str) -> None:
        """Compare two types of the same kind (or a promotion) in depth."""
        if _logical(old) != _logical(new) and not _decimal_widens(old, new):
            raise IncompatibleSchema(
                f"{_subject(path)} changes logical type from {_logical(old) or 'none'} to "
                f"{_logical(new) or 'none'}; the column was created for the old one",
                field=path,
                rule="logical_type_change",
            )
        kind = _kind(new)
        if kind == "record":
            pair = (old["name"], new["name"])
            if pair not in self.seen:
                self.seen.add(pair)
                self.check_fields(old, new, path)
        elif kind == "enum":
            removed = [s for s in old["symbols"] if s not in new["symbols"]]
            # An enum default is what the reader substitutes for unknown symbols.
            if removed and "default" not in new:
                raise IncompatibleSchema(
                    f"{_subject(path)} (enum {_short(new)}) drops symbols {removed}; "
                    "keep them or give the enum a default symbol",
                    field=path,
                    rule="enum_symbols_removed",
                )
        elif kind == "fixed" and old["size"] != new["size"]:
            raise IncompatibleSchema(
                f"{_subject(path)} (fixed {_short(new)}) changes size from {old['size']} "
                f"to {new['size']}",
                field=path,
                rule="fixed_size_change",
            )
        elif kind == "array":
            self.check(old["items"], new["items"], path)
        elif kind == "map":
            self.check(old["values"], new["values"], path)

    def check_fields(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        # Fields only in old are fine: the reader skips them.
        old_fields = {f["name"]: f for f in old["fields"]}
        for field in new["fields"]:
            name = field["name"]
            sub = f"{path}.{name}" if path else name
            # A reader field's aliases name the writer field it was renamed from.
            matches = [
                n for n in dict.fromkeys([name, *field.get("aliases", [])]) if n in old_fields
            ]
            if len(matches) > 1:
                raise IncompatibleSchema(
                    f"field {sub!r} matches the earlier fields {matches[0]!r} and "
                    f"{matches[1]!r} by its name and aliases; keep one of them",
                    field=sub,
                    rule="ambiguous_alias",
                )
            if matches:
                self.check(old_fields[matches[0]]["type"], field["type"], sub)
            elif "default" not in field:
                raise IncompatibleSchema(
                    f"new field {sub!r} has no default: events written with the previous "
                    "version have no value for it; add a default",
                    field=sub,
                    rule="new_field_without_default",
                )


def _kind(avro_type: Any) -> str:
    # Parsed types are a primitive name, a union (list) or a dict with a "type" name.
    if isinstance(avro_type, dict):
        return str(avro_type["type"])
    return "union" if isinstance(avro_type, list) else str(avro_type)


def _target(branch: Any, candidates: list[Any], old: Any, new: Any, path: str) -> Any:
    """The type among ``candidates`` (the new union's branches, or the new type) that
    reads the old ``branch``: the first that matches, promotions included, as the Avro
    specification and fastavro (the processor's decoder) resolve a union. (Java's
    resolver prefers a branch of the same type; a reader taking the first would turn
    bytes into text where a union lists string first, so that is refused here.)"""
    picked = next((c for c in candidates if _matches(branch, c)), None)
    text_binary = picked is not None and {_kind(branch), _kind(picked)} == _TEXT_BINARY
    if picked is not None and not text_binary:
        return picked
    if text_binary:
        raise IncompatibleSchema(
            f"{_subject(path)} would read old {_kind(branch)} values as {_kind(picked)} "
            f"({_describe(old)} to {_describe(new)}; a union reads with its first matching "
            "branch): Avro's string<->bytes promotion is refused, no warehouse column "
            "changes between text and binary",
            field=path,
            rule="string_bytes_change",
        )
    raise IncompatibleSchema(
        f"{_subject(path)} changes type from {_describe(old)} to {_describe(new)}; "
        f"{_PROMOTIONS_TEXT}",
        field=path,
        rule="type_change",
    )


def _matches(old: Any, new: Any) -> bool:
    """Whether Avro resolution picks ``new`` for ``old`` (the shallow test)."""
    old_kind, new_kind = _kind(old), _kind(new)
    if old_kind in _NAMED or new_kind in _NAMED:
        # Named types match by unqualified name, or the new one lists the old name
        # in its aliases (a rename), exactly as fastavro resolves them.
        aliases = new.get("aliases", []) if isinstance(new, dict) else []
        return old_kind == new_kind and (
            _short(old) == _short(new) or old["name"] in aliases or _short(old) in aliases
        )
    return old_kind == new_kind or new_kind in PROMOTIONS.get(old_kind, set())


def _decimal_widens(old: Any, new: Any) -> bool:
    """A decimal gaining precision at the same scale: the same unscaled values."""
    if not (_logical(old) or "").startswith("decimal") or not (_logical(new) or "").startswith(
        "decimal"
    ):
        return False
    same_scale = old.get("scale", 0) == new.get("scale", 0)
    return bool(same_scale and new.get("precision", 0) >= old.get("precision", 0))


def _logical(avro_type: Any) -> str | None:
    """The type's logical type, None for none or an invalid one (ignored, as the Avro
    specification says: the column is the underlying type's)."""
    if not isinstance(avro_type, dict) or not valid_logical(avro_type):
        return None
    logical = str(avro_type["logicalType"])
    if logical == "decimal":
        # Precision and scale fix the column's DECIMAL(p,s): a change is a new type.
        return f"decimal({avro_type.get('precision', 0)},{avro_type.get('scale', 0)})"
    return logical


def _short(named: dict[str, Any]) -> str:
    return str(named["name"]).rsplit(".", 1)[-1]


def _describe(avro_type: Any) -> str:
    """A short human form of a type for messages: ``[null, string]``, ``array<int>``."""
    kind = _kind(avro_type)
    if kind == "union":
        return "[" + ", ".join(_describe(b) for b in avro_type) + "]"
    if kind in _NAMED:
        return f"{kind} {_short(avro_type)}"
    if kind == "array":
        return f"array<{_describe(avro_type['items'])}>"
    if kind == "map":
        return f"map<{_describe(avro_type['values'])}>"
    logical = _logical(avro_type)
    if logical:
        return f"{kind} ({logical})"
    # A string here that is not a primitive is a named-type reference: keep its name.
    return kind.rsplit(".", 1)[-1]


def _subject(path: str) -> str:
    # The empty path is the event's record itself (e.g. a renamed top-level record).
    return f"field {path!r}" if path else "the event record"
