"""The schema registry: versions per (game, event type), the hash, compatibility, DDL.

Reads come from an in-memory index; an unknown fingerprint reloads it from the
catalog (at most every ``reload_interval_s``) so a schema registered through another
process is found without a restart.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from playlog.avro.compat import WIDENINGS, check_backward, same_types
from playlog.avro.schema import EventSchema, fingerprint_of, validate_record_schema
from playlog.avro.types import Column, columns_of
from playlog.errors import (
    Conflict,
    IncompatibleSchema,
    InvalidPayload,
    NotFound,
    PlaylogError,
    TransientError,
    UnknownSchema,
)
from playlog.names import check_name
from playlog.registry.catalog import Catalog
from playlog.warehouse.base import Warehouse

log = logging.getLogger("playlog.registry")


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


class Registry:
    def __init__(
        self, catalog: Catalog, warehouse: Warehouse | None, reload_interval_s: float = 1.0
    ) -> None:
        self.catalog = catalog
        self._warehouse = warehouse
        self._reload_interval_s = reload_interval_s
        self._lock = threading.Lock()  # serialises registrations
        self._index = SchemaIndex()
        self._loaded_at = float("-inf")
        try:
            self.reload(force=True)
        except TransientError as exc:  # start anyway; the next lookup tries again
            log.warning("schema catalog unavailable at start: %s", exc)

    def converge(self) -> None:
        """Bring every table up to its event type's latest version (idempotent).

        Registration changes the table, then the catalog: a crash between the two, or
        a warehouse restored from a backup, leaves them apart. Run when a process opens
        both; a warehouse that is down now is left for the next start."""
        if self._warehouse is None:
            return
        for (game, event_type), history in sorted(self._index.by_type.items()):
            columns = table_columns(history[:-1], history[-1].raw)
            try:
                self._warehouse.ensure_table(game, event_type, columns)
            except TransientError as exc:
                log.warning("cannot check table %s.%s now: %s", game, event_type, exc)
                return
            except PlaylogError as exc:  # e.g. a column changed by hand: say so, start
                log.error("table %s.%s does not fit its schema: %s", game, event_type, exc)

    def reload(self, force: bool = False) -> None:
        if force or time.monotonic() - self._loaded_at >= self._reload_interval_s:
            self._index = SchemaIndex.build(self.catalog.schemas())
            self._loaded_at = time.monotonic()

    # reads ------------------------------------------------------------------------

    def versions(self, game: str, event_type: str) -> list[EventSchema]:
        found = self._index.by_type.get((game, event_type))
        if found is None:
            self.reload()
            found = self._index.by_type.get((game, event_type))
        if not found:
            raise NotFound(f"no schema registered for {game}.{event_type}")
        return found

    def latest(self, game: str, event_type: str) -> EventSchema:
        return self.versions(game, event_type)[-1]

    def lookup(self, game: str, fingerprint: str, fresh: bool = False) -> EventSchema:
        """The schema with this hash among the game's registered versions. ``fresh``
        reloads on a miss however recent the last reload (the processor must not
        dead-letter an event whose schema was registered a moment ago)."""
        if (game, fingerprint) not in self._index.by_fingerprint:
            self.reload(force=fresh)
        return self._index.lookup(game, fingerprint)

    def writer_of(self, game: str, schema_json: str) -> EventSchema:
        """The registered version a container header's schema is: the same hash and
        the same logical types (a header saying timestamp-micros where timestamp-millis
        is registered has the same hash, and its values would be stored 1000x off)."""
        found = self.lookup(game, fingerprint_of(schema_json))
        # Versions differing only in logical types (a decimal widened) share a hash.
        found = next(
            (
                version
                for version in reversed(self.versions(game, found.event_type))
                if version.fingerprint == found.fingerprint
                and _same_logical_types(version.schema_json, schema_json)
            ),
            found,
        )
        if not _same_logical_types(found.schema_json, schema_json):
            raise InvalidPayload(
                f"the container's schema has the hash of {found.table} version "
                f"{found.version} but other logical types; write with the registered "
                "schema, or register this one as a new version",
                fingerprint=found.fingerprint,
            )
        return found

    def by_fingerprint(self, fingerprint: str, game: str | None = None) -> EventSchema:
        """The version with this hash: ``game``'s own where it has one (two games may
        register the same schema), else any game's."""

        def get(index: SchemaIndex) -> EventSchema | None:
            own = index.by_fingerprint.get((game, fingerprint)) if game else None
            return own or index.any_by_fingerprint.get(fingerprint)

        return self._found(get, f"fingerprint {fingerprint}")

    def by_id(self, schema_id: int) -> EventSchema:
        """By the catalog's integer id (the Confluent API's)."""
        return self._found(lambda i: i.by_id.get(schema_id), f"id {schema_id}")

    def _found(self, get: Callable[[SchemaIndex], EventSchema | None], what: str) -> EventSchema:
        """``get`` from the index, reloaded once on a miss (another process may have
        registered it a moment ago)."""
        found = get(self._index)
        if found is None:
            self.reload(force=True)
            found = get(self._index)
        if found is None:
            raise NotFound(f"no schema with {what}")
        return found

    def find_version(self, game: str, event_type: str, schema_json: str) -> EventSchema:
        """The registered version of ``game.event_type`` that ``schema_json`` is (the
        same hash and logical types); NotFound when it is none of them."""
        raw, fingerprint = _checked(schema_json)
        found = _same_version(self.versions(game, event_type), raw, fingerprint)
        if found is None:
            raise NotFound(f"this schema is not a registered version of {game}.{event_type}")
        return found

    def check_compatible(self, game: str, event_type: str, schema_json: str) -> None:
        """What registering ``schema_json`` would check, registering nothing: raises
        IncompatibleSchema (or BadRequest for an invalid schema)."""
        raw, fingerprint = _checked(schema_json)
        history = self.versions(game, event_type)
        if _same_version(history, raw, fingerprint) is None:
            check_evolution(history, raw)

    def event_types_of_all(self) -> list[tuple[str, str]]:
        """Every registered (game, event type), sorted."""
        self.reload()
        return sorted(self._index.by_type)

    def event_types(self, game: str) -> list[str]:
        return sorted(e for (g, e) in self._index.by_type if g == game)

    # registration -------------------------------------------------------------

    def register(self, game: str, event_type: str, schema_json: str) -> tuple[EventSchema, bool]:
        """Register a version; returns it and whether it is new. The table is
        CREATEd/ALTERed first, so a version is never visible before its table can take
        its rows. Registering a known version again changes nothing."""
        check_name(game, "game")
        check_name(event_type, "event_type")
        if not self.catalog.has_game(game):
            raise NotFound(f"no game {game!r}; create it with POST /v1/games")
        raw, fingerprint = _checked(schema_json)
        with self._lock:
            self.reload(force=True)
            history = self._index.by_type.get((game, event_type), [])
            known = _same_version(history, raw, fingerprint)
            if known is not None:
                return known, False
            clash = self._index.by_fingerprint.get((game, fingerprint))
            if clash is not None and clash.event_type != event_type:
                raise Conflict(
                    f"this schema is already registered as {clash.table}; an event type "
                    "is told apart by its schema hash, so give the record another name",
                    fingerprint=fingerprint,
                )
            check_evolution(history, raw)
            compact_json = json.dumps(raw, separators=(",", ":"))
            schema = EventSchema(game, event_type, len(history) + 1, fingerprint, compact_json)
            if self._warehouse is not None:
                self._warehouse.ensure_table(game, event_type, table_columns(history, raw))
            self.catalog.add_schema(schema)
            self.reload(force=True)
            return self._index.lookup(game, fingerprint), True  # with the id it was given

    def delete_game(self, game: str) -> list[str]:
        """Delete a game: its keys revoked first (nothing new arrives), then its tables
        dropped, then it and its schema versions gone from the catalog. Returns the
        tables dropped. A crash midway leaves the game listed: delete it again."""
        check_name(game, "game")
        if not self.catalog.has_game(game):
            raise NotFound(f"no game {game!r}")
        with self._lock:
            self.catalog.revoke_keys(game)
            self.reload(force=True)
            tables = [f"{game}.{event_type}" for event_type in self.event_types(game)]
            if self._warehouse is not None:
                self._warehouse.drop_game(game)
            self.catalog.forget_game(game)
            self.reload(force=True)
        log.info("game deleted: %s (%d tables dropped)", game, len(tables))
        return tables


def _checked(schema_json: str) -> tuple[dict[str, Any], str]:
    """The schema (validated) and its hash."""
    raw = validate_record_schema(schema_json)
    return raw, fingerprint_of(json.dumps(raw, separators=(",", ":")))


def _same_version(
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
def _same_logical_types(registered_json: str, header_json: str) -> bool:
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
