"""Every registered schema version, indexed for the lookups of ingest, processing and
the Confluent API: by (game, event type), by (game, hash), by hash alone and by id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from playlog.avro.schema import EventSchema
from playlog.errors import NotFound, UnknownSchema


@dataclass
class SchemaIndex:
    """Every registered version, indexed. Immutable once built: readers never lock."""

    by_type: dict[tuple[str, str], list[EventSchema]] = field(default_factory=dict)
    by_fingerprint: dict[tuple[str, str], EventSchema] = field(default_factory=dict)
    any_by_fingerprint: dict[str, EventSchema] = field(default_factory=dict)
    by_id: dict[int, EventSchema] = field(default_factory=dict)

    @classmethod
    def build(cls, schemas: Sequence[EventSchema]) -> SchemaIndex:
        index = cls()
        for schema in schemas:  # oldest first: latest wins
            index.by_type.setdefault((schema.game, schema.event_type), []).append(schema)
            index.by_fingerprint[(schema.game, schema.fingerprint)] = schema
            index.any_by_fingerprint.setdefault(schema.fingerprint, schema)
            index.by_id[schema.schema_id] = schema
        return index

    def lookup(self, game: str, fingerprint: str) -> EventSchema:
        found = self.by_fingerprint.get((game, fingerprint))
        if found is None:
            raise UnknownSchema(
                f"schema {fingerprint} is not registered for game {game!r}; "
                f"register it with POST /v1/games/{game}/schemas/<event_type>",
                fingerprint=fingerprint,
            )
        return found

    def latest(self, game: str, event_type: str) -> EventSchema:
        found = self.by_type.get((game, event_type))
        if not found:
            raise NotFound(f"no schema registered for {game}.{event_type}")
        return found[-1]
