"""Event bodies -> one validated data-topic record value.

* ``application/avro``: Object Container Files back to back. Checked block by block
  without decoding (the fast path); stored as they came.
* ``application/vnd.apache.avro+binary``: single-object events back to back.
  Checked event by event; stored as they came.
* ``application/json``: converted to single-object encoding, so the processor only
  ever decodes Avro (JSON is the debugging path; its speed matters least).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

from playlog.avro import ocf, single_object
from playlog.avro.json_events import encode
from playlog.avro.limits import Limits, check_ocf
from playlog.contracts import FORMAT_OCF, FORMAT_SINGLE_OBJECT
from playlog.errors import (
    BadRequest,
    InvalidPayload,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from playlog.registry.registry import Registry

__all__ = ["Batch", "Limits", "decompress", "parse"]

OCF_TYPES = frozenset({"application/avro", "avro/binary", "application/x-avro-binary"})
SINGLE_OBJECT_TYPES = frozenset({"application/vnd.apache.avro+binary"})
JSON_TYPES = frozenset({"application/json"})


@dataclass(frozen=True)
class Batch:
    format: str
    value: bytes
    count: int


# Bytes of a gzip member fed to its inflater at first; doubled while the member
# runs on. The inflater copies what it did not use once the member ends, so feeding
# the whole rest of the body to each member costs the square of the member count
# (2.3 MB of tiny members took 22 s); this way each member costs its own size.
_FIRST_FEED = 256
_MAX_FEED = 1 << 20


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Undo ``Content-Encoding: gzip``, refusing to inflate past ``limit`` bytes
    (413); in time linear in the body, however many members it holds."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise BadRequest(f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    parts: list[bytes] = []
    size = pos = 0
    view = memoryview(body)
    while pos < len(body) or not parts:  # members back to back (RFC 1952)
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        feed = _FIRST_FEED
        while not inflater.eof:
            if pos >= len(body):
                raise BadRequest("gzip body is truncated")
            chunk = view[pos : pos + feed]
            try:
                parts.append(inflater.decompress(chunk, limit + 1 - size))
            except zlib.error as exc:
                raise BadRequest(f"body is not valid gzip: {exc}") from exc
            size += len(parts[-1])
            if size > limit:
                raise PayloadTooLarge(
                    f"body inflates to more than {limit} bytes (server.max_inflated_bytes)",
                    limit=limit,
                )
            pos += len(chunk) - len(inflater.unused_data)
            feed = min(2 * feed, _MAX_FEED)
    return b"".join(parts)


def parse(
    registry: Registry,
    game: str,
    content_type: str,
    body: bytes,
    max_events: int,
    limits: Limits = Limits(),  # noqa: B008 (frozen)
) -> Batch:
    kind = content_type.split(";")[0].strip().lower()
    if kind not in OCF_TYPES | SINGLE_OBJECT_TYPES | JSON_TYPES:
        raise UnsupportedMediaType(
            f"unsupported Content-Type {content_type!r}; use application/avro, "
            "application/vnd.apache.avro+binary or application/json"
        )
    if not body:
        raise InvalidPayload("the body is empty: it holds no events")
    if kind in OCF_TYPES:
        batch = _ocf(registry, game, body, limits)
    elif kind in SINGLE_OBJECT_TYPES:
        batch = _single_object(registry, game, body, limits)
    else:
        batch = _json(registry, game, body, limits)
    if batch.count == 0:
        raise InvalidPayload("the body holds no events")
    if batch.count > max_events:
        raise PayloadTooLarge(
            f"{batch.count} events in one body; the limit is {max_events}", limit=max_events
        )
    return batch


def _ocf(registry: Registry, game: str, body: bytes, limits: Limits) -> Batch:
    containers = ocf.walk(body)
    writers = [registry.writer_of(game, c.schema_json) for c in containers]
    by_start = {c.start: w.parsed for c, w in zip(containers, writers, strict=True)}
    check_ocf(body, containers, lambda c: by_start[c.start], limits)
    return Batch(FORMAT_OCF, body, sum(c.count for c in containers))


def _single_object(registry: Registry, game: str, body: bytes, limits: Limits) -> Batch:
    counts = single_object.count(
        body, lambda fp: registry.lookup(game, fp).parsed, max_depth=limits.depth
    )
    return Batch(FORMAT_SINGLE_OBJECT, body, sum(counts.values()))


def _json(registry: Registry, game: str, body: bytes, limits: Limits) -> Batch:
    try:
        events = json.loads(body)
    except RecursionError as exc:  # json's C parser gives up ~1,000 levels deep
        raise BadRequest("body is not JSON we accept: too deeply nested") from exc
    except ValueError as exc:
        raise BadRequest(f"body is not JSON: {exc}") from exc
    if not isinstance(events, list):
        raise BadRequest('a JSON body is an array of {"event_type": ..., "data": {...}}')
    framed = []
    for index, event in enumerate(events):
        where = f"event {index}"
        if not isinstance(event, dict) or "event_type" not in event or "data" not in event:
            raise InvalidPayload(f'{where}: expected {{"event_type": ..., "data": {{...}}}}')
        schema = _schema_for(registry, game, event, where)
        framed.append(
            single_object.frame(
                schema.fingerprint, encode(event["data"], schema.parsed, where, limits.depth)
            )
        )
    return Batch(FORMAT_SINGLE_OBJECT, b"".join(framed), len(framed))


def _schema_for(registry: Registry, game: str, event: dict[str, Any], where: str) -> Any:
    event_type = event["event_type"]
    pinned = event.get("schema")
    try:
        if pinned is not None:
            schema = registry.lookup(game, str(pinned))
            if schema.event_type != event_type:
                raise InvalidPayload(
                    f"{where}: schema {pinned} belongs to {schema.event_type}, not {event_type}"
                )
            return schema
        return registry.latest(game, str(event_type))
    except NotFound as exc:
        raise InvalidPayload(
            f"{where}: unknown event type {event_type!r} for game {game!r}"
        ) from exc
