"""What ``playlog reconcile`` compares: the object store, the copy topic and the ledger.

    found = classify(store.keys(), loaded, pending_keys(log, copy, group), failed, topic)
    queue(log, copy, [task_for_file(store, k, topic) for k in found.unloaded])

A batch file in the store is *loaded* (its key is in the ledger), *pending* (its task
waits on the copy topic past the loader's committed offset), *failed* (the loader
dead-lettered it: ``playlog failed``/``replay`` handle it), or else *unloaded*: its
task was lost. An unloaded file gets back the COPY task the processor made for it
(the task id derives from the key alone) and goes onto the copy topic: the loader
loads it through the ledger, exactly once, however often reconcile runs. A ledger key
with no file is *missing*; keys that are no batch file of the data topic are
*foreign* and left alone.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyarrow.compute as pc
import pyarrow.parquet as pq

from playlog.contracts import RECEIVED_AT, CopyTask, OffsetRange
from playlog.errors import CorruptRecord
from playlog.log.base import Log, Message, position
from playlog.storage.base import ObjectStore

# The incarnation of a replayed failed event's files (process/replay.py): such a file
# was written at the failed event's own position (and ``replay-{its incarnation}``),
# which its task names in replay_of.
_REPLAY = "replay"
_READ_CHUNK = 1_000  # copy-topic records per read


@dataclass(frozen=True)
class Findings:
    unloaded: list[str]
    pending: list[str]
    failed: list[str]
    missing: list[str]
    foreign: list[str]

    @property
    def clean(self) -> bool:
        """Nothing lost: every file loaded or on its way, every ledger row has its file."""
        return not (self.unloaded or self.missing)


@dataclass(frozen=True)
class _FileKey:
    game: str
    event_type: str
    topic: str
    partition: int
    first: int
    last: int
    incarnation: str


@functools.cache
def _key_pattern(data_topic: str) -> re.Pattern[str]:
    """``{game}/{event_type}/dt={day}/{topic}-{p}-{first}-{last}[-{incarnation}].parquet``
    (process/transform.py ``file_key``); the topic is known, so dashes in it are too."""
    return re.compile(
        r"(?P<game>[^/]+)/(?P<event_type>[^/]+)/dt=[^/]+/" + re.escape(data_topic)
        + r"-(?P<p>\d+)-(?P<first>\d+)-(?P<last>\d+)(?:-(?P<inc>(?:replay-)?[0-9a-z]+))?\.parquet"
    )  # fmt: skip


def _parse(key: str, data_topic: str) -> _FileKey | None:
    match = _key_pattern(data_topic).fullmatch(key)
    if match is None:
        return None
    return _FileKey(
        match["game"], match["event_type"], data_topic, int(match["p"]),
        int(match["first"]), int(match["last"]), match["inc"] or "",
    )  # fmt: skip


def classify(
    stored: Iterable[str],
    loaded: Iterable[str],
    pending: Iterable[str],
    failed: Iterable[str],
    data_topic: str,
) -> Findings:
    """Every stored key and every ledger key (``loaded``), sorted into :class:`Findings`."""
    stored_set, loaded_set = set(stored), set(loaded)
    waiting, failures = set(pending), set(failed)
    parsed = {k: _parse(k, data_topic) for k in stored_set}
    files = sorted(k for k, name in parsed.items() if name is not None)
    not_loaded = [k for k in files if k not in loaded_set]
    # The loader names a failed task after its file; older versions named a replay's
    # task after the failed event it replays, and such rows are still about the file.
    dead = {k for k in not_loaded if k in failures or _replay_of(parsed[k]) in failures}
    return Findings(
        unloaded=[k for k in not_loaded if k not in waiting and k not in dead],
        pending=[k for k in not_loaded if k in waiting and k not in dead],
        failed=[k for k in not_loaded if k in dead],
        missing=sorted(loaded_set - stored_set),
        foreign=sorted(stored_set.difference(files)),
    )


def task_for_file(store: ObjectStore, key: str, data_topic: str) -> CopyTask:
    """The COPY task of the batch file ``key``: its column list, rows and receive-time
    range from the file, its source range from the key. Raises ``ObjectMissing`` or
    ``StoreUnavailable`` from the store, ``CorruptRecord`` for a file that is not one."""
    parsed = _parse(key, data_topic)
    if parsed is None:
        raise CorruptRecord(f"{key} is not a batch file of topic {data_topic}")
    data = store.get(key)
    try:
        table = pq.read_table(io.BytesIO(data), columns=[RECEIVED_AT])
        schema = pq.read_schema(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises many kinds for a damaged file
        raise CorruptRecord(f"{key} is not a readable Parquet batch file: {exc}") from exc
    received = pc.min_max(table[RECEIVED_AT])
    span = OffsetRange(parsed.topic, parsed.partition, parsed.first, parsed.last)
    return CopyTask.of_file(
        key, store.uri(key), parsed.game, parsed.event_type, span,
        columns=schema.names, rows=table.num_rows, size=len(data),
        received_us=(received["min"].value, received["max"].value),
        replay_of=_replay_of(parsed),
    )  # fmt: skip


def _replay_of(name: _FileKey | None) -> str:
    """The failed event a replay's file was written for ("" for other files)."""
    if name is None or not (name.incarnation + "-").startswith(_REPLAY + "-"):
        return ""
    original = name.incarnation.removeprefix(_REPLAY).removeprefix("-")
    return position(name.topic, name.partition, name.first, original)


def pending_keys(log: Log, copy_topic: str, group: str) -> set[str]:
    """File keys of the tasks on the copy topic the loader group has not committed."""
    committed = log.committed(group, copy_topic)
    keys: set[str] = set()
    for partition, end in log.end_offsets(copy_topic).items():
        start = committed.get(partition, 0)
        while start < end:
            stop = min(end, start + _READ_CHUNK)
            for record in log.read(copy_topic, partition, start, stop):
                try:
                    keys.add(CopyTask.from_json(record.value).key)
                except CorruptRecord:
                    continue  # the loader dead-letters it; no file of ours
            start = stop
    return keys


def queue(log: Log, copy_topic: str, tasks: Sequence[CopyTask]) -> None:
    """Append ``tasks`` to the copy topic the way the processor does (keyed by table)."""
    if tasks:
        log.append(copy_topic, [Message(t.table.encode(), t.to_json()) for t in tasks])
