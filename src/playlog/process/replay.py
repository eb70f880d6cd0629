"""Records ``playlog replay`` sent again, and what a dead letter says it is about.

A replayed record (header ``replay_of``: the failed event's ``source``, the
``topic/partition/offset[@incarnation]`` the record first had) is transformed as if it
sat at that original position, alone, in a range of its own marked ``replay``:

* its events get the event ids the original would have had;
* its files get keys of their own (``...-{offset}-{offset}-replay-{incarnation}.parquet``;
  ``-replay`` alone for a source without one), the same for every replay of that
  failed event, so their COPY tasks get the same ids and the loader's ledger loads a
  failed event replayed twice once; a record at the same offset of a rewound log is
  another failed event, with other keys;
* its tasks carry ``replay_of``: the loader marks the failed event replayed in the
  transaction that loads them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from playlog.avro import ocf, single_object
from playlog.avro.schema import EventSchema, fingerprint_of
from playlog.contracts import FORMAT_SINGLE_OBJECT, REPLAY_OF, OffsetRange, RangeResult
from playlog.errors import CorruptRecord, PlaylogError
from playlog.log.base import Record, dead_letter

# The incarnation of a replay's range (plus ``-{the original's}``): it keeps its keys
# apart from the original's.
REPLAY_INCARNATION = "replay"

Transform = Callable[[OffsetRange, list[Record]], RangeResult]
SchemaLookup = Callable[[str, str], EventSchema]


def original_position(source: str) -> OffsetRange:
    """``"playlog.events/3/41@0a1b"`` -> the replay range ``playlog.events`` 3, 41..41,
    incarnation ``replay-0a1b`` (``replay`` for a source without one); CorruptRecord
    for a source that is no position."""
    place, _, incarnation = source.partition("@")
    try:
        topic, partition, offset = place.rsplit("/", 2)
        replay_of = OffsetRange(topic, int(partition), int(offset), int(offset))
    except ValueError:
        raise CorruptRecord(f"replay_of {source!r} is not topic/partition/offset") from None
    suffix = f"-{incarnation}" if incarnation else ""
    return dataclasses.replace(replay_of, incarnation=REPLAY_INCARNATION + suffix)


def replay(record: Record, transform: Transform) -> RangeResult:
    """``record`` transformed at its original position, its tasks marked as a replay."""
    source = record.headers[REPLAY_OF]
    try:
        span = original_position(source)
    except CorruptRecord as exc:
        return RangeResult([], [dead_letter(record, exc, "process", **about(record))], 0)
    original = dataclasses.replace(
        record, topic=span.topic, partition=span.partition, offset=span.first
    )
    result = transform(span, [original])
    result.tasks = [dataclasses.replace(t, replay_of=source) for t in result.tasks]
    return result


def about(record: Record, lookup: SchemaLookup | None = None) -> dict[str, str]:
    """``event_type`` and ``schema_hash`` of a record being dead-lettered, as far as
    its framing tells without decoding (comma-separated when it holds several; the
    event type only where the registry knows the hash). Never raises."""
    game = record.headers.get("game", "")
    try:
        if record.headers.get("format") == FORMAT_SINGLE_OBJECT:
            marked = record.value[:2] == single_object.MARKER
            hashes = [record.value[2:10].hex()] if marked else []
        else:
            hashes = [fingerprint_of(c.schema_json) for c in ocf.walk(record.value)]
    except Exception:  # a description is best effort: the dead letter must go out
        return {}
    hashes = list(dict.fromkeys(hashes))
    types = []
    for fingerprint in hashes if lookup is not None else []:
        try:
            types.append(lookup(game, fingerprint).event_type)  # type: ignore[misc]
        except PlaylogError:
            continue
    return {"schema_hash": ",".join(hashes), "event_type": ",".join(dict.fromkeys(types))}
