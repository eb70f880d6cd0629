"""The COPY task: what the processor asks the loader to load (one copy-topic record)."""

from __future__ import annotations

import builtins
import hashlib
import json
from dataclasses import asdict, dataclass

from playlog.errors import CorruptRecord


@dataclass(frozen=True, slots=True)
class CopyTask:
    """One batch file of one table.

    ``columns`` is the file's column list, in file order; loaders always name it
    explicitly so a file written before an ALTER TABLE ADD COLUMN still loads after.
    """

    task_id: str
    game: str
    event_type: str
    key: str  # object-store key of the file
    uri: str
    columns: tuple[str, ...]
    rows: int
    bytes: int
    received_min_ms: int
    received_max_ms: int
    source_topic: str
    source_partition: int
    source_first: int
    source_last: int

    @property
    def table(self) -> str:
        return f"{self.game}.{self.event_type}"

    def to_json(self) -> builtins.bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: builtins.bytes) -> CopyTask:
        try:
            data = json.loads(raw)
            data["columns"] = tuple(data["columns"])
            return cls(**data)
        except (ValueError, TypeError, KeyError) as exc:
            raise CorruptRecord(f"not a COPY task: {exc}") from exc


def task_id_for(key: str) -> str:
    """Task ids derive from the file key: a replayed batch makes the same id."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]
