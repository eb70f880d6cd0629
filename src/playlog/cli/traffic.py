"""Synthetic game traffic: schemas and events (encoded by ``playlog.client.ocf``)."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

_TS = {"type": "long", "logicalType": "timestamp-millis"}

DEMO_SCHEMAS: dict[str, dict[str, Any]] = {
    "login": {
        "type": "record",
        "name": "login",
        "fields": [
            {"name": "player_id", "type": "string"},
            {
                "name": "platform",
                "type": {
                    "type": "enum",
                    "name": "platform",
                    "symbols": ["pc", "console", "mobile"],
                },
            },
            {"name": "level", "type": "int"},
            {"name": "ts", "type": _TS},
        ],
    },
    "kill": {
        "type": "record",
        "name": "kill",
        "fields": [
            {"name": "killer_id", "type": "string"},
            {"name": "victim_id", "type": "string"},
            {"name": "weapon", "type": "string"},
            {"name": "distance_m", "type": "double"},
            {"name": "headshot", "type": "boolean"},
            {"name": "ts", "type": _TS},
        ],
    },
    "purchase": {
        "type": "record",
        "name": "purchase",
        "fields": [
            {"name": "player_id", "type": "string"},
            {"name": "item", "type": "string"},
            {"name": "price_cents", "type": "long"},
            {"name": "currency", "type": "string", "default": "USD"},
            {"name": "coupon", "type": ["null", "string"], "default": None},
            {"name": "ts", "type": _TS},
        ],
    },
}

_WEAPONS = ["rifle", "shotgun", "sniper", "pistol", "knife", "rocket"]
_ITEMS = ["skin_red", "skin_gold", "battle_pass", "loot_box", "xp_boost"]


def demo_event(event_type: str, rng: random.Random) -> dict[str, Any]:
    now = int(time.time() * 1000)
    player = f"p{rng.randrange(10_000):05d}"
    if event_type == "login":
        return {
            "player_id": player,
            "platform": rng.choice(["pc", "console", "mobile"]),
            "level": rng.randrange(1, 100),
            "ts": now,
        }
    if event_type == "kill":
        return {
            "killer_id": player,
            "victim_id": f"p{rng.randrange(10_000):05d}",
            "weapon": rng.choice(_WEAPONS),
            "distance_m": round(rng.uniform(1, 800), 1),
            "headshot": rng.random() < 0.2,
            "ts": now,
        }
    return {
        "player_id": player,
        "item": rng.choice(_ITEMS),
        "price_cents": rng.choice([99, 499, 999, 1999]),
        "currency": "USD",
        "coupon": rng.choice([None, None, "WINTER"]),
        "ts": now,
    }


def synthetic_schema(index: int, extra: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Event type ``evt_<index>``: ~190-byte events like the measured prototype, with
    ``extra`` fields after its own (``region``: ``synthetic_events`` fill it)."""
    return {
        "type": "record",
        "name": f"evt_{index}",
        "fields": [
            {"name": "player_id", "type": "string"},
            {"name": "session_id", "type": "string"},
            {"name": "value", "type": "long"},
            {"name": "score", "type": "double"},
            {"name": "label", "type": "string"},
            {"name": "payload", "type": "string"},
            {"name": "ts", "type": _TS},
            *extra,
        ],
    }


def synthetic_events(count: int, rng: random.Random) -> list[dict[str, Any]]:
    now = int(time.time() * 1000)
    return [
        {
            "player_id": f"player-{rng.randrange(1_000_000):07d}",
            "session_id": f"session-{rng.getrandbits(64):016x}",
            "value": rng.randrange(1 << 40),
            "score": rng.random() * 1000,
            "label": rng.choice(["alpha", "beta", "gamma", "delta"]),
            "payload": "x" * rng.randrange(60, 100),
            "ts": now,
            "region": "eu",  # written only where the schema has the field
        }
        for _ in range(count)
    ]
