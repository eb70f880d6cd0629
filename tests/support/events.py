"""The event types the end-to-end tests send, and a sender that keeps sending under
faults, remembering what was accepted (202) and what got no answer."""

from __future__ import annotations

import base64
import io
import secrets
import threading
import time
from typing import Any

import fastavro
import httpx

from tests.support.avro import ocf
from tests.support.deadline import wait_until
from tests.support.server import Server

TS = {"type": "long", "logicalType": "timestamp-millis"}
LOGIN = {
    "type": "record",
    "name": "login",
    "fields": [
        {"name": "seq", "type": "long"},
        {"name": "player", "type": "string"},
        {
            "name": "platform",
            "type": {"type": "enum", "name": "platform", "symbols": ["pc", "console", "mobile"]},
        },
        {"name": "ts", "type": TS},
    ],
}
KILL = {
    "type": "record",
    "name": "kill",
    "fields": [
        {"name": "seq", "type": "long"},
        {"name": "distance", "type": "double"},
        {"name": "headshot", "type": "boolean"},
        {"name": "weapon", "type": ["null", "string"], "default": None},
    ],
}
PURCHASE = {
    "type": "record",
    "name": "purchase",
    "fields": [
        {"name": "seq", "type": "long"},
        {"name": "price_cents", "type": "int"},
        {"name": "receipt", "type": "bytes"},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
    ],
}
SCHEMAS = {"login": LOGIN, "kill": KILL, "purchase": PURCHASE}

# A timestamp column: Avro allows 2**62 ms, no column holds it (a failed event).
SCORE = {
    "type": "record",
    "name": "score",
    "fields": [
        {"name": "player", "type": "string"},
        {"name": "points", "type": "int"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}


def score(player: str, points: int, ts: int = 1_764_151_200_000) -> dict[str, Any]:
    return {"player": player, "points": points, "ts": ts}


def login(seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "player": f"p{seq % 97}",
        "platform": ["pc", "console", "mobile"][seq % 3],
        "ts": 1_700_000_000_000 + seq,
    }


def kill(seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "distance": seq / 4,
        "headshot": seq % 5 == 0,
        "weapon": None if seq % 7 == 0 else f"w{seq % 4}",
    }


def purchase(seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "price_cents": seq % 1000,
        "receipt": seq.to_bytes(4, "big"),
        "tags": [f"t{seq % 3}"] * (seq % 3),
    }


MAKERS = {"login": login, "kill": kill, "purchase": purchase}


BATCH = 250


class Sender(threading.Thread):
    """Sends batches of unique `seq`s until stopped, remembering what was answered 202
    (accepted) and what got no answer (maybe accepted: the crash hit mid-request)."""

    def __init__(self, server: Server, key: str, game: str = "g1") -> None:
        super().__init__(daemon=True)
        self.server, self.key, self.game = server, key, game
        self.accepted: set[int] = set()
        self.uncertain: set[int] = set()
        self.refused = 0
        self.stop = threading.Event()

    def wait_accepted(self, batches: int, seconds: float = 120) -> None:
        """Wait until ``batches`` more batches than now were accepted."""
        target = len(self.accepted) + batches * BATCH
        wait_until(lambda: len(self.accepted) >= target, seconds, f"{batches} more batches")

    def run(self) -> None:
        first = 0
        while not self.stop.is_set():
            seqs = range(first, first + BATCH)
            first += BATCH
            body = ocf(KILL, [kill(s) for s in seqs])
            try:
                status = self.server.send(self.game, self.key, body, "application/avro").status_code
            except httpx.HTTPError:
                self.uncertain.update(seqs)
                time.sleep(0.05)
                continue
            if status == 202:
                self.accepted.update(seqs)
            else:
                self.refused += 1  # 503: not accepted, and not in the log either


def single_objects(fingerprint: str, schema: dict[str, Any], events: list[dict[str, Any]]) -> bytes:
    parsed = fastavro.parse_schema(schema)
    body = b""
    for event in events:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed, event)
        body += b"\xc3\x01" + bytes.fromhex(fingerprint) + out.getvalue()
    return body


def as_json(event_type: str, event: dict[str, Any]) -> dict[str, Any]:
    data = dict(event)
    if "receipt" in data:
        data["receipt"] = base64.b64encode(data["receipt"]).decode()
    return {"event_type": event_type, "data": data}


def fresh_game(prefix: str = "g") -> str:
    """A game name no other test of the run uses: tests sharing one `playlog up` (the
    ``shared_server`` fixture) count only rows of their own games."""
    return f"{prefix}{secrets.token_hex(4)}"


def setup_game(server: Server, game: str = "g1") -> tuple[str, dict[str, str]]:
    key = server.game(game)
    fingerprints = {}
    for event_type, schema in SCHEMAS.items():
        response = server.register(game, event_type, schema)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["version"] == 1 and body["table"] == f"{game}.{event_type}"
        assert len(body["fingerprint"]) == 16
        fingerprints[event_type] = body["fingerprint"]
    return key, fingerprints
