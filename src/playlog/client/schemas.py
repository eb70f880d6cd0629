"""The writer schema of each event type, fetched from the server once and cached.

By default the latest registered version; ``pins`` fixes an event type to a version
number or a fingerprint (a game server built against one schema keeps writing it
while a newer version is registered).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import fastavro

from playlog.errors import UnknownSchema

Fetch = Callable[[str], dict[str, Any]]  # event type -> GET .../schemas/{event_type}


@dataclass(frozen=True)
class WriterSchema:
    event_type: str
    version: int
    fingerprint: str
    schema_json: str
    parsed: Any  # fastavro's parsed schema


class Schemas:
    def __init__(self, fetch: Fetch, pins: Mapping[str, int | str] | None = None) -> None:
        self._fetch = fetch
        self._pins = dict(pins or {})
        self._known: dict[str, WriterSchema] = {}
        self._lock = threading.Lock()

    def of(self, event_type: str) -> WriterSchema:
        found = self._known.get(event_type)
        if found is None:
            with self._lock:  # one fetch per event type, however many threads track it
                found = self._known.get(event_type) or self._load(event_type)
                self._known[event_type] = found
        return found

    def _load(self, event_type: str) -> WriterSchema:
        versions = self._fetch(event_type)["versions"]
        pin = self._pins.get(event_type)
        chosen = versions[-1] if pin is None else _pinned(versions, pin)
        if chosen is None:
            raise UnknownSchema(f"{event_type}: no registered version {pin!r}", pin=pin)
        schema = chosen["schema"]  # the record schema as a JSON object
        return WriterSchema(
            event_type,
            int(chosen["version"]),
            str(chosen["fingerprint"]),
            json.dumps(schema),
            fastavro.parse_schema(schema),
        )


def _pinned(versions: list[dict[str, Any]], pin: int | str) -> dict[str, Any] | None:
    key = "version" if isinstance(pin, int) else "fingerprint"
    return next((v for v in versions if v[key] == pin), None)
