"""What one body may cost to check and to decode: nesting depth and inflated size.

Ingest checks every body against the configured limits (``Limits.of(server)``)
before it answers 202, and the processor checks every record again with its own
configured limits before a native decoder sees it (records accepted before the
limits existed, or by a node configured otherwise):

    >>> check_ocf(body, ocf.walk(body), writer_schema_of, Limits.of(settings.server))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from playlog.avro import ocf
from playlog.avro.codecs import Inflater
from playlog.avro.depth import DEFAULT_DEPTH, Plan, Walker, plan_for
from playlog.errors import InvalidPayload

if TYPE_CHECKING:
    from playlog.settings import ServerSettings

# 8x the default body limit (10 MiB), as ServerSettings.inflated_limit
DEFAULT_INFLATED_BYTES = 8 * 10 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    depth: int = DEFAULT_DEPTH
    inflated_bytes: int = DEFAULT_INFLATED_BYTES

    @classmethod
    def of(cls, server: ServerSettings) -> Limits:
        """The configured limits: ingest and the processor must apply the same."""
        return cls(server.max_nesting_depth, server.inflated_limit)


DEFAULT_LIMITS = Limits()

# an OCF container -> the parsed writer schema its blocks are decoded with
WriterOf = Callable[[ocf.Container], Any]


def check_ocf(
    body: bytes, containers: Sequence[ocf.Container], writer_of: WriterOf, limits: Limits
) -> None:
    """Inflate every compressed block within ``limits.inflated_bytes`` in all (413;
    damage and a wrong snappy CRC: 422), and walk the records of schemas whose data
    could nest past ``limits.depth`` (422)."""
    inflater = Inflater(limits.inflated_bytes)
    walker = Walker(limits.depth, empty_items=len(body))
    for container in containers:
        plan = plan_for(writer_of(container))
        walk = plan.needs_walk(limits.depth)
        if container.codec == "null" and not walk:
            continue
        for count, start, end in ocf.blocks(body, container):
            where = f"container at byte {container.start}, block at byte {start}"
            data = inflater.inflate(container.codec, body[start:end], where)
            if walk:
                _walk_block(walker, plan, data, count, where)


def _walk_block(walker: Walker, plan: Plan, data: bytes, count: int, where: str) -> None:
    if count > len(data):  # a walked record takes a byte at least
        raise InvalidPayload(f"{where}: block claims {count} records in {len(data)} bytes")
    pos = 0
    try:
        for _ in range(count):
            pos = walker.skip(data, pos, plan)
    except InvalidPayload as exc:
        raise type(exc)(f"{where}: {exc.message}", **exc.details) from None
    if pos != len(data):
        raise InvalidPayload(f"{where}: block holds more data than its {count} records")
