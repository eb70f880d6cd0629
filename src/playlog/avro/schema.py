"""Parse event-type schemas and compute their hash (the Avro fingerprint)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import fastavro
from fastavro.schema import SchemaParseException, fingerprint, to_parsing_canonical_form

from playlog.avro.defaults import check_defaults
from playlog.avro.depth import json_depth
from playlog.avro.logical import decodable_json, without_invalid_logical
from playlog.avro.types import Column, columns_of
from playlog.errors import BadRequest

# How deep a schema's JSON may nest (objects and arrays; a record inside a record
# takes three levels: its field list, the field, the field's type). Telemetry needs a
# handful; parsing, hashing and the compatibility check recurse, and a schema nested
# thousands deep would make them exceed Python's recursion limit.
MAX_SCHEMA_DEPTH = 64
_TOO_DEEP = f"schema is nested too deeply (at most {MAX_SCHEMA_DEPTH} levels of JSON)"


@dataclass(frozen=True)
class EventSchema:
    """One registered version of an event type."""

    game: str
    event_type: str
    version: int
    fingerprint: str  # 16 hex digits, bytes as in single-object encoding
    schema_json: str  # as registered
    schema_id: int = 0  # the catalog's integer id (the Confluent API's); 0 until stored

    @property
    def raw(self) -> dict[str, Any]:
        return _loads(self.schema_json)

    @property
    def parsed(self) -> Any:
        return parse(self.schema_json)

    @property
    def columns(self) -> list[Column]:
        # The processor asks once per container: computed once per schema (a copy:
        # callers may extend their list).
        return list(_columns(self.schema_json))

    @property
    def table(self) -> str:
        return f"{self.game}.{self.event_type}"


@lru_cache(maxsize=4096)
def _columns(schema_json: str) -> tuple[Column, ...]:
    return tuple(columns_of(_loads(schema_json)))


@lru_cache(maxsize=4096)
def _loads(schema_json: str) -> dict[str, Any]:
    try:
        value = json.loads(schema_json)
    except RecursionError as exc:
        raise BadRequest(_TOO_DEEP) from exc
    if not isinstance(value, dict):
        raise BadRequest("schema must be a JSON object")
    return value


@lru_cache(maxsize=4096)
def parse(schema_json: str) -> Any:
    """fastavro's parsed schema, invalid logical types ignored (cached: parsing is
    slow and schemas are few)."""
    try:
        return fastavro.parse_schema(json.loads(decodable_json(schema_json)))
    except (SchemaParseException, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BadRequest(f"invalid Avro schema: {exc}") from exc
    except RecursionError as exc:
        raise BadRequest(_TOO_DEEP) from exc


@lru_cache(maxsize=4096)
def fingerprint_of(schema_json: str) -> str:
    """CRC-64-AVRO of the Parsing Canonical Form, as 16 hex digits.

    Cached by the raw schema text: an OCF header repeats the same bytes every
    request, and computing the canonical form is ~90x slower than this lookup.
    """
    canonical = to_parsing_canonical_form(parse(schema_json))
    return str(fingerprint(canonical, "CRC-64-AVRO"))


def validate_record_schema(schema_json: str) -> dict[str, Any]:
    """The schema as JSON if it is a valid Avro record usable as a table, else BadRequest."""
    try:
        raw = json.loads(schema_json)
    except RecursionError as exc:  # json's C parser gives up ~1,000 levels deep
        raise BadRequest(_TOO_DEEP) from exc
    except ValueError as exc:
        raise BadRequest(f"schema is not JSON: {exc}") from exc
    if json_depth(raw, MAX_SCHEMA_DEPTH) > MAX_SCHEMA_DEPTH:
        raise BadRequest(_TOO_DEEP)
    if not isinstance(raw, dict) or raw.get("type") != "record":
        raise BadRequest('an event type\'s schema must be an Avro record ({"type": "record"})')
    parse(schema_json)
    columns_of(raw)
    check_defaults(without_invalid_logical(raw))  # a default of the underlying type
    return raw
