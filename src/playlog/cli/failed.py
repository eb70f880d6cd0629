"""``playlog failed`` and ``playlog replay``: what failed, why, and sending it again.

Both read ``playlog.failed_events`` with a read-only query (through the running
server, or from the DuckDB file). ``replay`` appends each unreplayed failed event
where it failed: a process-stage one to the data topic (header ``replay_of``), a
load-stage one (a COPY task) to the copy topic (``replay_of`` in the task). It marks
nothing itself: the loader marks a failed event replayed in the transaction that
loads it, and every replay of one failed event makes the same file and task id, so
the ledger loads it once however often (or however interrupted) replay runs.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

from playlog.contracts import FORMAT_OCF, FORMAT_SINGLE_OBJECT, REPLAY_OF, CopyTask
from playlog.errors import BadRequest
from playlog.log.base import Log, Message
from playlog.names import check_name

FAILED = "playlog.failed_events"
PAGE = 100  # failed events per query while replaying (each may be a 10 MiB body)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: dt.datetime) -> dt.datetime:
    """``"90m"``, ``"2h"``, ``"7d"`` ago, or an ISO 8601 time (UTC unless it says)."""
    match = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if match:
        return now - dt.timedelta(seconds=int(match[1]) * _UNITS[match[2]])
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadRequest(
            f"--since {text!r}: give 30m, 2h, 7d or a time like 2026-12-01T10:00"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def filters(
    game: str | None = None,
    since: dt.datetime | None = None,
    event_type: str | None = None,
    reason_like: str | None = None,
) -> list[str]:
    """SQL conditions on ``playlog.failed_events``; names are validated, text quoted."""
    where = []
    if game is not None:
        where.append(f"game = {_literal(check_name(game, 'game'))}")
    if event_type is not None:
        where.append(f"event_type = {_literal(check_name(event_type, 'event_type'))}")
    if since is not None:
        where.append(f"failed_at >= CAST({_literal(since.isoformat())} AS TIMESTAMPTZ)")
    if reason_like is not None:
        pattern = reason_like if "%" in reason_like else f"%{reason_like}%"
        where.append(f"reason LIKE {_literal(pattern)}")
    return where


def summary_sql(conditions: list[str]) -> str:
    """Failed events grouped by reason, the most frequent first."""
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    return (
        "SELECT reason, stage, game, event_type, count(*) AS events, "
        "count(replayed_at) AS replayed, min(failed_at) AS first_failed, "
        f"max(failed_at) AS last_failed FROM {FAILED} {where}"
        "GROUP BY reason, stage, game, event_type ORDER BY events DESC, reason, game, event_type"
    )


def pending_sql(conditions: list[str], after: str) -> str:
    """The next page of unreplayed failed events, in ``source`` order after ``after``."""
    where = " AND ".join(["replayed_at IS NULL", f"source > {_literal(after)}", *conditions])
    return (
        f"SELECT source, stage, game, failed_at, payload FROM {FAILED} WHERE {where} "
        f"ORDER BY source LIMIT {PAGE}"
    )


def pages(query: Any, conditions: list[str]) -> Iterator[list[list[Any]]]:
    """Every unreplayed failed event, a page at a time (``query(sql) -> rows``)."""
    after = ""
    while rows := query(pending_sql(conditions, after)):
        yield rows
        after = str(rows[-1][0])


def replay_message(row: list[Any], data_topic: str, copy_topic: str) -> tuple[str, Message]:
    """(topic, record) that sends one failed event ``[source, stage, game, failed_at,
    payload]`` through the stage it failed in again."""
    source, stage, game, failed_at, payload = row
    body = base64.b64decode(payload) if isinstance(payload, str) else bytes(payload)
    if stage == "load":
        task = dataclasses.replace(CopyTask.from_json(body), replay_of=source)
        return copy_topic, Message(task.table.encode(), task.to_json())
    if isinstance(failed_at, str):
        failed_at = dt.datetime.fromisoformat(failed_at)
    fmt = FORMAT_SINGLE_OBJECT if body[:2] == b"\xc3\x01" else FORMAT_OCF
    headers = {
        "game": game,
        "format": fmt,
        # The original receive time is not kept; the failure time is seconds after
        # it, and the same for every replay (so every replay writes the same file).
        "received_at_ms": str(int(failed_at.timestamp() * 1000)),
        "request_id": f"replay:{source}",
        REPLAY_OF: source,
    }
    return data_topic, Message(game.encode(), body, headers)


@dataclasses.dataclass
class Replayed:
    sent: dict[str, int]  # failed events appended, per stage
    # sources of failed events stored without their payload (the warehouse refused
    # it): nothing to send again; they stay unreplayed
    skipped: list[str]


def replay_all(
    query: Any, log: Log, conditions: list[str], data_topic: str, copy_topic: str
) -> Replayed:
    """Append every unreplayed failed event matching ``conditions`` where it failed."""
    done = Replayed({}, [])
    for rows in pages(query, conditions):
        by_topic: dict[str, list[Message]] = {}
        for row in rows:
            if not row[4]:  # b"" from the file, "" (base64) from the server
                done.skipped.append(str(row[0]))
                continue
            topic, message = replay_message(row, data_topic, copy_topic)
            by_topic.setdefault(topic, []).append(message)
            done.sent[str(row[1])] = done.sent.get(str(row[1]), 0) + 1
        for topic, messages in by_topic.items():
            log.append(topic, messages)
    return done
