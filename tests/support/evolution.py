"""The smallest real pipeline for schema evolution: registration (catalog + DuckDB
DDL), the processor's range transform, and the warehouse load.

    with Pipeline.open(tmp_path) as pipe:
        pipe.register(v1); pipe.register(v2)
        rows = pipe.load(v1, [{"n": 1}])  # written with v1, as the table holds them
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playlog.contracts import FORMAT_OCF, CopyTask, OffsetRange
from playlog.errors import ClientError
from playlog.log.base import Record
from playlog.process.transform import event_id, transform_range
from playlog.registry.catalog import Catalog
from playlog.registry.registry import Registry
from playlog.storage.local import LocalStore
from playlog.warehouse.duckdb import DuckDBWarehouse
from tests.support.avro import ocf

EVENT_TYPE = "ev"
T0_MS = 1_764_151_200_000


@dataclass
class Pipeline:
    registry: Registry
    warehouse: DuckDBWarehouse
    store: LocalStore
    game: str = "g"
    next_offset: int = 0

    @classmethod
    @contextmanager
    def open(cls, root: Path) -> Iterator[Pipeline]:
        store = LocalStore(root / "objects")
        warehouse = DuckDBWarehouse(root / "w.duckdb", store)
        catalog = Catalog(root / "catalog.sqlite")
        try:
            catalog.add_game("g")
            yield cls(Registry(catalog, warehouse), warehouse, store)
        finally:
            catalog.close()
            warehouse.close()

    def new_game(self, game: str) -> Pipeline:
        """This pipeline for a new game: its own tables, the same warehouse and
        catalog (cheaper than opening them again for each example)."""
        self.registry.catalog.add_game(game)
        return dataclasses.replace(self, game=game, next_offset=0)

    def register(self, schema: dict[str, Any]) -> int:
        version, _ = self.registry.register(self.game, EVENT_TYPE, json.dumps(schema))
        return version.version

    def state(self) -> tuple[Any, ...]:
        """Catalog versions and table columns: what a refused registration must keep."""
        versions = tuple(
            (s.version, s.schema_json) for s in self.registry.catalog.schemas(self.game)
        )
        return versions, tuple(self.columns())

    def columns(self) -> list[tuple[str, str]]:
        query = (
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = '{self.game}' AND table_name = '{EVENT_TYPE}' "
            "ORDER BY ordinal_position"
        )
        return [(str(n), str(t)) for n, t in self._fetch(query)]

    def transform(self, writer: dict[str, Any], rows: Sequence[dict[str, Any]]) -> list[CopyTask]:
        """One OCF of ``rows`` written with ``writer`` through the processor's transform."""
        offset, self.next_offset = self.next_offset, self.next_offset + 1
        headers = {"game": self.game, "format": FORMAT_OCF, "received_at_ms": str(T0_MS)}
        value = ocf(writer, list(rows))
        record = Record("data", 0, offset, self.game.encode(), value, headers, T0_MS)
        result = transform_range(
            OffsetRange("data", 0, offset, offset),
            [record],
            self.registry.lookup,
            self.registry.latest,
            self.store,
        )
        if result.dead_letters:
            raise AssertionError(f"dead-lettered: {result.dead_letters[0].headers['error']}")
        return result.tasks

    def rows(self, tasks: Sequence[CopyTask]) -> list[dict[str, Any]]:
        """The loaded rows of ``tasks``' offsets, in event order, without metadata."""
        ids = [str(event_id(t.source_first, 0, 0)) for t in tasks]
        first, last = min(ids, key=int), max(ids, key=int)
        columns = [n for n, _ in self.columns() if not n.startswith("_")]
        select = ", ".join(f'"{c}"' for c in columns)
        query = (
            f"SELECT {select} FROM {self.game}.{EVENT_TYPE} WHERE _event_id BETWEEN {first} "
            f"AND {int(last) + (1 << 17) - 1} ORDER BY _event_id"
        )
        return [dict(zip(columns, row, strict=True)) for row in self._fetch(query)]

    def load(self, writer: dict[str, Any], rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """``rows`` written with ``writer``, transformed, loaded and read back."""
        tasks = self.transform(writer, rows)
        self.warehouse.load(tasks)
        return self.rows(tasks)

    def _fetch(self, query: str) -> list[tuple[Any, ...]]:
        return self.warehouse._run(lambda conn: conn.execute(query).fetchall())


def refusal(pipe: Pipeline, schema: dict[str, Any]) -> ClientError | None:
    """The error registering ``schema`` raises, or None when it registers."""
    try:
        pipe.register(schema)
    except ClientError as exc:
        return exc
    return None
