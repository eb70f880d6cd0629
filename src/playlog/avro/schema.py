"""Parse event-type schemas and compute their hash (the Avro fingerprint)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import fastavro
from fastavro.schema import SchemaParseException, fingerprint, to_parsing_canonical_form

from playlog.avro.types import Column, columns_of
from playlog.errors import BadRequest


@dataclass(frozen=True)
class EventSchema:
    """One registered version of an event type."""

    game: str
    event_type: str
    version: int
    fingerprint: str  # 16 hex digits, bytes as in single-object encoding
    schema_json: str  # as registered

    @property
    def raw(self) -> dict[str, Any]:
        return _loads(self.schema_json)

    @property
    def parsed(self) -> Any:
        return parse(self.schema_json)

    @property
    def columns(self) -> list[Column]:
        return columns_of(self.raw)

    @property
    def table(self) -> str:
        return f"{self.game}.{self.event_type}"


@lru_cache(maxsize=4096)
def _loads(schema_json: str) -> dict[str, Any]:
    value = json.loads(schema_json)
    if not isinstance(value, dict):
        raise BadRequest("schema must be a JSON object")
    return value


@lru_cache(maxsize=4096)
def parse(schema_json: str) -> Any:
    """fastavro's parsed schema (cached: parsing is slow and schemas are few)."""
    try:
        return fastavro.parse_schema(json.loads(schema_json))
    except (SchemaParseException, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BadRequest(f"invalid Avro schema: {exc}") from exc


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
    except ValueError as exc:
        raise BadRequest(f"schema is not JSON: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("type") != "record":
        raise BadRequest('an event type\'s schema must be an Avro record ({"type": "record"})')
    parse(schema_json)
    columns_of(raw)
    return raw
