"""Avro single-object encoding: ``C3 01`` + 8-byte fingerprint + datum, back to back.

The datum has no length prefix, so finding where one event ends means decoding it:
this format is validated event by event (the OCF path is the fast one).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

from fastavro import schemaless_reader

from playlog.avro.depth import DEFAULT_DEPTH, Walker, plan_for
from playlog.errors import InvalidPayload

MARKER = b"\xc3\x01"
HEADER_SIZE = 10

# fingerprint (16 hex) -> parsed writer schema, raising UnknownSchema when not registered
WriterLookup = Callable[[str], Any]
# fingerprint -> parsed reader schema to resolve to (None: read as written)
ReaderLookup = Callable[[str], Any]


def frame(fingerprint_hex: str, datum: bytes) -> bytes:
    return MARKER + bytes.fromhex(fingerprint_hex) + datum


def decode(
    body: bytes,
    writer_for: WriterLookup,
    reader_for: ReaderLookup | None = None,
    max_depth: int = DEFAULT_DEPTH,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(fingerprint, record)`` for every event in ``body``, resolving each to
    ``reader_for(fingerprint)`` when given. Raises InvalidPayload on any damage, and
    TooDeep (never a crash in fastavro) for data nested past ``max_depth``."""
    stream = io.BytesIO(body)
    size = len(body)
    walker = Walker(max_depth, empty_items=size)
    index = 0
    while stream.tell() < size:
        start = stream.tell()
        header = stream.read(HEADER_SIZE)
        if len(header) < HEADER_SIZE or header[:2] != MARKER:
            raise InvalidPayload(
                f"event {index} at byte {start}: not single-object encoded (expects C3 01 "
                "+ 8-byte fingerprint + datum)"
            )
        fingerprint = header[2:].hex()
        writer = writer_for(fingerprint)
        reader = reader_for(fingerprint) if reader_for else None
        _check_depth(walker, body, start, writer, f"event {index} at byte {start}")
        try:
            record = schemaless_reader(stream, writer, reader)
        except (
            EOFError,
            ValueError,  # also UnicodeDecodeError; a date before the year 1
            IndexError,
            TypeError,
            ArithmeticError,  # OverflowError: a timestamp or date past what datetime holds
            RecursionError,
        ) as exc:
            raise InvalidPayload(
                f"event {index} at byte {start}: datum does not match schema {fingerprint}: "
                f"{str(exc) or type(exc).__name__}"
            ) from exc
        if stream.tell() > size:
            raise InvalidPayload(f"event {index} at byte {start}: truncated datum")
        assert isinstance(record, dict)
        yield fingerprint, record
        index += 1


def _check_depth(walker: Walker, body: bytes, start: int, writer: Any, where: str) -> None:
    """Walk the datum first when its schema lets data nest past the limit."""
    plan = plan_for(writer)
    if plan.needs_walk(walker.limit):
        try:
            walker.skip(body, start + HEADER_SIZE, plan)
        except InvalidPayload as exc:
            raise type(exc)(f"{where}: {exc.message}", **exc.details) from None


def count(body: bytes, writer_for: WriterLookup, max_depth: int = DEFAULT_DEPTH) -> dict[str, int]:
    """Validate every event; ``{fingerprint: events}``."""
    counts: dict[str, int] = {}
    for fingerprint, _ in decode(body, writer_for, max_depth=max_depth):
        counts[fingerprint] = counts.get(fingerprint, 0) + 1
    return counts
