"""What the stages hand each other: the only module every stage may import.

Stages (ingest, process, load, monitor) and the adapters behind the ports meet here and
never import each other, the way dlt's extract, normalize and load meet in
``dlt/common``. Everything here is a plain record or a constant: no I/O, and nothing
heavier than the standard library, so the client library can import it.

* ingest -> process: the data-topic record's ``format`` header (:data:`FORMAT_OCF`,
  :data:`FORMAT_SINGLE_OBJECT`).
* process -> engine: :class:`OffsetRange` in, :class:`RangeResult` out (:class:`Engine`).
* process -> load: a :class:`CopyTask` per batch file on the copy topic.
* load -> warehouse: the ledger table and the metadata columns of every table.
* server -> client: :func:`server_file`, where a running server says its URL.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from playlog.errors import CorruptRecord
from playlog.log.base import Message

# The ``format`` header of a data-topic record: how its value is framed.
FORMAT_OCF = "ocf"  # Avro Object Container Files back to back
FORMAT_SINGLE_OBJECT = "soe"  # Avro single-object encoded events back to back

# Metadata columns every warehouse table has, after the event type's own columns.
EVENT_ID = "_event_id"  # BIGINT, unique: offset, partition and index in the record
RECEIVED_AT = "_received_at"  # when ingest accepted the batch
SCHEMA_HASH = "_schema_hash"  # the fingerprint of the version the event was written with
METADATA_COLUMNS = (EVENT_ID, RECEIVED_AT, SCHEMA_HASH)

# The load ledger: one row per loaded task, written in the COPY's own transaction.
LEDGER_SCHEMA = "playlog"
LEDGER_TABLE = "load_ledger"
# Every dead letter, one row per ``source`` (see ``playlog.log.base.dead_letter``).
FAILED_TABLE = "failed_events"
FAILED_COLUMNS = (
    "failed_at", "stage", "game", "event_type", "schema_hash", "reason", "source",
    "payload", "replayed_at",
)  # fmt: skip
# A data-topic record sent again by ``playlog replay`` names the failed event it
# replays in this header: the processor then writes it exactly as the original would
# have been (same event ids, a file of its own), and the loader marks the failed event
# replayed in the transaction that loads it.
REPLAY_OF = "replay_of"


def table_name(game: str, event_type: str) -> str:
    """The table of an event type, as shown to users: ``game.event_type``."""
    return f"{game}.{event_type}"


@dataclass(frozen=True)
class OffsetRange:
    """Records ``first..last`` (inclusive) of one partition: the unit of replay."""

    topic: str
    partition: int
    first: int
    last: int
    # The log's incarnation (see ``Log.incarnation``): offsets of a recreated or
    # rewound log are new records, so they get new file keys and task ids.
    incarnation: str = ""


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
    # The ``source`` of the failed event this task replays ("" for ordinary tasks).
    replay_of: str = ""

    @classmethod
    def of_file(
        cls,
        key: str,
        uri: str,
        game: str,
        event_type: str,
        source: OffsetRange,
        *,
        columns: Sequence[str],
        rows: int,
        size: int,
        received_us: tuple[int, int],
        replay_of: str = "",
    ) -> CopyTask:
        """The task of the batch file ``key`` holding ``source``'s events of one table.

        The one way a task is made, by the processor that writes the file and by
        reconcile that finds it again, so both make the same task (and task id) for it.
        ``received_us`` is the file's lowest and highest ``_received_at``, in the
        microseconds Parquet stores.
        """
        return cls(
            task_id=task_id_for(key),
            game=game,
            event_type=event_type,
            key=key,
            uri=uri,
            columns=tuple(columns),
            rows=rows,
            bytes=size,
            received_min_ms=received_us[0] // 1000,
            received_max_ms=received_us[1] // 1000,
            source_topic=source.topic,
            source_partition=source.partition,
            source_first=source.first,
            source_last=source.last,
            replay_of=replay_of,
        )

    @property
    def table(self) -> str:
        return table_name(self.game, self.event_type)

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


@dataclass(frozen=True)
class FailedEvent:
    """One row of ``playlog.failed_events``; ``source`` is its key."""

    failed_at_ms: int
    stage: str  # process | load
    game: str
    event_type: str
    schema_hash: str
    reason: str
    source: str
    payload: builtins.bytes


@dataclass
class RangeResult:
    """What transforming one :class:`OffsetRange` produced."""

    tasks: list[CopyTask]
    dead_letters: list[Message]
    events: int


class Engine(Protocol):
    """Runs the batch transform over offset ranges (in this process, or on Spark
    executors). The processor (driver) plans the ranges and alone publishes COPY tasks
    and commits offsets."""

    def execute(self, ranges: Sequence[OffsetRange]) -> list[RangeResult]:
        """One result per range, in order. Re-running a range rewrites the same files."""

    def close(self) -> None: ...


def server_file(data_dir: Path) -> Path:
    """Where a running ``playlog up``/``ingest`` says its URL and pid."""
    return data_dir / "server.json"
