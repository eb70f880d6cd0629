"""Each partition's current range, saved before its files are written.

A saved plan is trusted only after it was checked against the log: its range must
still exist (below the end offset) and its last record must be the one it was planned
over (append time and a checksum). A log that lost its tail (a power cut under
``sync="normal"``, a restored copy) fails the check: offsets are being reused for
other records, so the partition gets a new incarnation, which goes into the file keys
and task ids, and the loader's ledger cannot mistake the new records for loaded ones.

Plans are read from the store once per lease (``forget`` drops them when the lease was
(re)acquired: another driver may have written them meanwhile); within a lease the
driver is their only writer and serves them from memory.
"""

from __future__ import annotations

import json
import logging
import secrets
import zlib
from dataclasses import dataclass, replace

from playlog.contracts import OffsetRange
from playlog.errors import ObjectMissing
from playlog.log.base import Log
from playlog.storage.base import ObjectStore

log = logging.getLogger("playlog.process")


@dataclass(frozen=True)
class Plan:
    span: OffsetRange
    last_record: str  # "<append ms>:<crc32 of value>" of record ``span.last``; "" unknown


def record_mark(log_: Log, span: OffsetRange) -> str:
    found = log_.read(span.topic, span.partition, span.last, span.last + 1)
    if not found:
        return ""
    return f"{found[0].timestamp_ms}:{zlib.crc32(found[0].value)}"


class PlanStore:
    def __init__(self, store: ObjectStore, group: str, log_: Log) -> None:
        self._store = store
        self._group = group
        self._log = log_
        self._incarnation = log_.incarnation()
        self._known: dict[tuple[str, int], Plan | None] = {}

    def forget(self) -> None:
        """Read every plan from the store again (the lease was (re)acquired)."""
        self._known.clear()

    def _key(self, topic: str, partition: int) -> str:
        return f"_plans/{self._group}/{topic}-{partition}.json"

    def load(self, topic: str, partition: int, end: int) -> Plan | None:
        """The partition's plan, checked against the log when read from the store."""
        if (topic, partition) not in self._known:
            self._known[(topic, partition)] = self._read(topic, partition, end)
        return self._known[(topic, partition)]

    def incarnation(self, topic: str, partition: int, end: int) -> str:
        """What goes into this partition's next range (and so its file keys)."""
        plan = self.load(topic, partition, end)
        if plan is not None and plan.span.incarnation.startswith(self._incarnation):
            return plan.span.incarnation
        return self._incarnation

    def save(self, span: OffsetRange) -> Plan:
        mark = record_mark(self._log, span) if self._incarnation else ""
        body = {
            "first": span.first,
            "last": span.last,
            "incarnation": span.incarnation,
            "last_record": mark,
        }
        self._store.put(self._key(span.topic, span.partition), json.dumps(body).encode())
        plan = self._known[(span.topic, span.partition)] = Plan(span, mark)
        return plan

    def _read(self, topic: str, partition: int, end: int) -> Plan | None:
        try:
            data = json.loads(self._store.get(self._key(topic, partition)))
        except ObjectMissing:
            return None
        span = OffsetRange(
            topic, partition, int(data["first"]), int(data["last"]), data.get("incarnation", "")
        )
        plan = Plan(span, str(data.get("last_record", "")))
        if not self._incarnation:
            return plan  # a log that never rewinds (Kafka: replicated)
        if span.last < end and plan.last_record == record_mark(self._log, span):
            return plan
        # The log lost records this plan covered: never replay it, never reuse its keys.
        fresh = f"{self._incarnation}r{secrets.token_hex(3)}"
        log.error(
            "partition %s-%d: the log no longer holds the records of saved plan %d..%d "
            "(end offset %d): it was rewound; new incarnation %s",
            topic,
            partition,
            span.first,
            span.last,
            end,
            fresh,
        )
        return Plan(replace(span, first=-1, last=-1, incarnation=fresh), "")
