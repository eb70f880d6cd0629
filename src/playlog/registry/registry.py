"""The schema registry: versions per (game, event type), the hash, compatibility, DDL.

Reads come from an in-memory index (``registry/index.py``); an unknown fingerprint
reloads it from the catalog (at most every ``reload_interval_s``) so a schema
registered through another process is found without a restart. What a new version may
be, and the table it makes, are the pure rules of ``registry/evolution.py``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

from playlog.avro.schema import EventSchema, fingerprint_of
from playlog.errors import (
    Conflict,
    InvalidPayload,
    NotFound,
    PlaylogError,
    TransientError,
)
from playlog.names import check_name
from playlog.registry.catalog import Catalog
from playlog.registry.evolution import (
    check_evolution,
    same_logical_types,
    same_version,
    table_columns,
    validated,
)
from playlog.registry.index import SchemaIndex
from playlog.warehouse.base import Warehouse

log = logging.getLogger("playlog.registry")


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
                and same_logical_types(version.schema_json, schema_json)
            ),
            found,
        )
        if not same_logical_types(found.schema_json, schema_json):
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
        raw, fingerprint = validated(schema_json)
        found = same_version(self.versions(game, event_type), raw, fingerprint)
        if found is None:
            raise NotFound(f"this schema is not a registered version of {game}.{event_type}")
        return found

    def check_compatible(self, game: str, event_type: str, schema_json: str) -> None:
        """What registering ``schema_json`` would check, registering nothing: raises
        IncompatibleSchema (or BadRequest for an invalid schema)."""
        raw, fingerprint = validated(schema_json)
        history = self.versions(game, event_type)
        if same_version(history, raw, fingerprint) is None:
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
        raw, fingerprint = validated(schema_json)
        with self._lock:
            self.reload(force=True)
            history = self._index.by_type.get((game, event_type), [])
            known = same_version(history, raw, fingerprint)
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


__all__ = ["Registry", "SchemaIndex"]
