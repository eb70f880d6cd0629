"""The embedded durable log: topics, partitions, offsets and group commits in SQLite.

WAL mode lets one writer and many readers work at once, across threads and local
processes. An append is one transaction, shared with the appends of concurrent callers
(group commit, ``group_commit.py``): when ``append`` returns, the records are in the
WAL. ``sync="full"`` (the default) survives a power cut; ``"normal"`` only a crash
of the process (a power cut may roll back appends that were answered 202).
Next offsets live in their own table so trimming old records never reuses an offset.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from time import sleep

from playlog.errors import ConfigError, LogUnavailable
from playlog.log.base import Message, Record
from playlog.log.embedded_subscription import EmbeddedSubscription
from playlog.log.group_commit import GroupCommit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (name TEXT PRIMARY KEY, partitions INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS next_offsets (
    topic TEXT, partition INTEGER, next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    key BLOB NOT NULL, value BLOB NOT NULL, headers TEXT NOT NULL, ts_ms INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS records_position ON records (topic, partition, offset);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS group_offsets (
    grp TEXT, topic TEXT, partition INTEGER, offset INTEGER NOT NULL,
    PRIMARY KEY (grp, topic, partition)
);
"""


TRIM_CHUNK = 1_000  # records per retention transaction: a few ms of write lock

# One chunk of retention on one partition: the oldest expired records below the lowest
# committed offset of the groups that committed on the topic (0 for a partition such a
# group never committed). No group: nothing is deleted (MIN of nothing is NULL).
_TRIM_CHUNK_SQL = """
DELETE FROM records WHERE rowid IN (
    SELECT rowid FROM records
    WHERE topic = :topic AND partition = :partition AND ts_ms < :cutoff AND offset < (
        SELECT MIN(COALESCE(g.offset, 0))
        FROM (SELECT DISTINCT grp FROM group_offsets WHERE topic = :topic) AS groups
        LEFT JOIN group_offsets g
          ON g.grp = groups.grp AND g.topic = :topic AND g.partition = :partition)
    ORDER BY offset LIMIT :chunk)
"""


# One caller's append: its topic and messages.
_Append = tuple[str, Sequence[Message]]


def partition_for(key: bytes, partitions: int) -> int:
    """Stable across processes and restarts (Python's hash() is not)."""
    return zlib.crc32(key) % partitions


class EmbeddedLog:
    def __init__(self, path: Path, sync: str = "full", retention_hours: float = 72.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._sync = "FULL" if sync == "full" else "NORMAL"
        self._retention_ms = int(retention_hours * 3600 * 1000)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._write_lock = threading.Lock()
        self._appended = threading.Condition()
        self._partitions: dict[str, int] = {}
        self._appends: GroupCommit[_Append, list[tuple[int, int]]] = GroupCommit(self._append_all)
        self._db().executescript(_SCHEMA)
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('incarnation', ?)", (uuid.uuid4().hex[:8],)
            )
        row = self._db().execute("SELECT value FROM meta WHERE name = 'incarnation'").fetchone()
        self._incarnation = str(row[0])

    def incarnation(self) -> str:
        """Created with the log's file: a new file (a lost data dir) is a new log."""
        return self._incarnation

    def _db(self) -> sqlite3.Connection:
        """One connection per thread: sqlite3 connections must not be shared."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self._sync}")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
            self._connections.append(db)
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        with self._write_lock:
            try:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("COMMIT")
            except BaseException as exc:
                # Whatever failed (a group's append among them), nothing of it stays.
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise LogUnavailable(f"embedded log {self._path}: {exc}") from exc
                raise

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A read: an I/O error (disk full while the WAL grows, a lost volume) is the
        log being unavailable for now, as for writes."""
        try:
            yield self._db()
        except sqlite3.OperationalError as exc:
            raise LogUnavailable(f"embedded log {self._path}: {exc}") from exc

    # topics -------------------------------------------------------------------

    def ensure_topic(self, topic: str, partitions: int) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO topics VALUES (?, ?)", (topic, partitions))
            for partition in range(self.partitions(topic)):
                db.execute(
                    "INSERT OR IGNORE INTO next_offsets VALUES (?, ?, 0)", (topic, partition)
                )

    def partitions(self, topic: str) -> int:
        if topic not in self._partitions:
            row = (
                self._db()
                .execute("SELECT partitions FROM topics WHERE name = ?", (topic,))
                .fetchone()
            )
            if row is None:
                raise ConfigError(f"topic {topic!r} does not exist")
            self._partitions[topic] = int(row[0])
        return self._partitions[topic]

    # writing ------------------------------------------------------------------

    def append(self, topic: str, messages: Sequence[Message]) -> list[tuple[int, int]]:
        """Durable when it returns: in one transaction with the appends of concurrent
        callers (group commit: one fsync for all), all of it or none of it."""
        self.partitions(topic)  # an unknown topic fails its own caller, not a group
        return self._appends.submit((topic, messages))

    def _append_all(self, appends: Sequence[_Append]) -> list[list[tuple[int, int]]]:
        """The messages of every append, in order, offsets dense per partition: one
        transaction; each append's positions."""
        now_ms = int(time.time() * 1000)
        answers: list[list[tuple[int, int]]] = []
        with self._transaction() as db:
            ends: dict[str, dict[int, int]] = {}
            rows = []
            for topic, messages in appends:
                if topic not in ends:
                    ends[topic] = dict(
                        db.execute(
                            "SELECT partition, next_offset FROM next_offsets WHERE topic = ?",
                            (topic,),
                        ).fetchall()
                    )
                topic_ends, count = ends[topic], self.partitions(topic)
                positions = []
                for message in messages:
                    partition = partition_for(message.key, count)
                    offset = topic_ends[partition]
                    topic_ends[partition] = offset + 1
                    positions.append((partition, offset))
                    headers = json.dumps(dict(message.headers))
                    rows.append(
                        (topic, partition, offset, message.key, message.value, headers, now_ms)
                    )
                answers.append(positions)
            db.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            db.executemany(
                "UPDATE next_offsets SET next_offset = ? WHERE topic = ? AND partition = ?",
                [(end, t, p) for t, topic_ends in ends.items() for p, end in topic_ends.items()],
            )
        with self._appended:
            self._appended.notify_all()
        return answers

    # reading ------------------------------------------------------------------

    def end_offsets(self, topic: str) -> dict[int, int]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT partition, next_offset FROM next_offsets WHERE topic = ?", (topic,)
            ).fetchall()
        return {int(p): int(o) for p, o in rows}

    def read(
        self, topic: str, partition: int, start: int, end: int, limit: int = -1
    ) -> list[Record]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT offset, key, value, headers, ts_ms FROM records "
                "WHERE topic = ? AND partition = ? AND offset >= ? AND offset < ? "
                "ORDER BY offset LIMIT ?",
                (topic, partition, start, end, limit),
            ).fetchall()
        return [
            Record(topic, partition, o, bytes(k), bytes(v), json.loads(h), ts)
            for o, k, v, h, ts in rows
        ]

    def wait_for_append(self, timeout_s: float) -> None:
        """Sleep until an append in this process, or ``timeout_s`` (other processes
        append too, so callers re-check after the timeout)."""
        with self._appended:
            self._appended.wait(timeout_s)

    # consumer groups ------------------------------------------------------------

    def committed(self, group: str, topic: str) -> dict[int, int]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT partition, offset FROM group_offsets WHERE grp = ? AND topic = ?",
                (group, topic),
            ).fetchall()
        return {int(p): int(o) for p, o in rows}

    def commit(self, group: str, topic: str, offsets: Mapping[int, int]) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO group_offsets VALUES (?, ?, ?, ?) "
                "ON CONFLICT (grp, topic, partition) DO UPDATE SET offset = excluded.offset "
                "WHERE excluded.offset > group_offsets.offset",  # never backwards
                [(group, topic, p, o) for p, o in offsets.items()],
            )

    def subscribe(self, group: str, topic: str) -> EmbeddedSubscription:
        return EmbeddedSubscription(self, group, topic)

    def trim_expired(self, chunk: int = TRIM_CHUNK) -> int:
        """Delete records older than the retention that every group has consumed.

        A group that committed some partitions of the topic but not this one reads it
        from offset 0 (see EmbeddedSubscription), so it counts as having consumed none.
        At most ``chunk`` records per transaction, the write lock released in between,
        so that appends never wait for more than one chunk.
        """
        cutoff = int(time.time() * 1000) - self._retention_ms
        positions = self._db().execute("SELECT topic, partition FROM next_offsets").fetchall()
        deleted = 0
        for topic, partition in positions:
            while True:
                with self._transaction() as db:
                    count = db.execute(
                        _TRIM_CHUNK_SQL,
                        {"topic": topic, "partition": partition, "cutoff": cutoff, "chunk": chunk},
                    ).rowcount
                deleted += count
                if count < chunk:
                    break
                sleep(0.001)  # let a waiting append have the lock (Lock is not fair)
        return deleted

    def close(self) -> None:
        for db in self._connections:
            db.close()
        self._connections.clear()
