"""playlog's client library.

``Tracker`` sends game events (dicts) as Avro batches from a background thread; it
imports no columnar library and no httpx (tests/unit/test_layering.py). ``Client``,
the admin client of the HTTP API that the CLI and the canary use, loads httpx when
first named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from playlog.client.buffer import Batching
from playlog.client.errors import (
    ApiError,
    BufferFull,
    TransientApiError,
    Unreachable,
    UntrustedServer,
)
from playlog.client.local import admin_key_of, server_url
from playlog.client.retry import Backoff
from playlog.client.tracker import Stats, Tracker

if TYPE_CHECKING:
    from playlog.client.admin import Client


def __getattr__(name: str) -> Any:
    if name == "Client":
        from playlog.client.admin import Client

        return Client
    raise AttributeError(f"module 'playlog.client' has no attribute {name!r}")


__all__ = [
    "ApiError",
    "Backoff",
    "Batching",
    "BufferFull",
    "Client",
    "Stats",
    "Tracker",
    "TransientApiError",
    "Unreachable",
    "UntrustedServer",
    "admin_key_of",
    "server_url",
]
