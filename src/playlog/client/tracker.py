"""``Tracker``: game events as dicts in, Avro batches to playlog from a background
thread.

    with Tracker("https://playlog.example.com", "mygame", "pl_...") as tracker:
        tracker.track("levelup", {"player": "ann", "level": 3, "ts": 1764151200000})

``track()`` encodes the event with its type's registered schema at once (a bad event
raises ``InvalidPayload`` naming the field and is not buffered); the sender thread
posts a batch (one Avro container per event type) when ``Batching`` says so, with
retries (retry.py) under one ``Idempotency-Key`` per batch.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from playlog.avro.json_events import encode
from playlog.client.buffer import Batching, Buffer, Encoded, WhenFull
from playlog.client.errors import api_error
from playlog.client.ocf import container
from playlog.client.retry import Backoff, answer_of, post
from playlog.client.schemas import Schemas
from playlog.client.transport import HttpTransport, Transport
from playlog.errors import PlaylogError
from playlog.names import check_name

log = logging.getLogger("playlog.client")

DEFAULT_BATCHING, DEFAULT_BACKOFF = Batching(), Backoff()  # frozen
Outcome = Literal["sent", "failed", "dropped"]
# (outcome, number of events, the error of a failed batch)
Callback = Callable[[Outcome, int, PlaylogError | None], None]


@dataclass
class Stats:
    sent: int = 0  # acknowledged by the server (202)
    failed: int = 0  # in batches refused, or not taken before give_up_after_s
    dropped: int = 0  # refused by a full buffer (when_full="drop")
    retried: int = 0  # attempts repeated after no answer or a transient one
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, counter: Outcome | Literal["retried"], count: int) -> None:
        with self.lock:
            setattr(self, counter, getattr(self, counter) + count)


class Tracker:
    def __init__(
        self,
        url: str,
        game: str,
        key: str,
        *,
        batching: Batching = DEFAULT_BATCHING,
        capacity: int = 10_000,
        when_full: WhenFull = "block",
        block_timeout_s: float = 5.0,
        compress: bool = False,
        pins: Mapping[str, int | str] | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        timeout_s: float = 30.0,
        verify: bool | str | Path = True,
        on_result: Callback | None = None,
        transport: Transport | None = None,
    ) -> None:
        self._game, self._key = check_name(game, "game"), key
        self._transport = transport or HttpTransport(url, timeout_s, verify)
        self._schemas = Schemas(self._fetch_versions, pins)
        self._buffer = Buffer(capacity, when_full, block_timeout_s)
        self._batching, self._backoff, self._compress = batching, backoff, compress
        self._on_result = on_result
        self.stats = Stats()
        self._stop, self._abort = threading.Event(), threading.Event()
        self._sender = threading.Thread(target=self._run, name="playlog-sender", daemon=True)
        self._sender.start()

    def track(self, event_type: str, data: Mapping[str, Any]) -> bool:
        """Encode and buffer one event; False if a full buffer dropped it."""
        if self._stop.is_set():
            raise PlaylogError("this tracker is closed")
        schema = self._schemas.of(check_name(event_type, "event_type"))
        datum = encode(data, schema.parsed, event_type)
        if self._buffer.put(Encoded(schema, datum, time.monotonic())):
            return True
        self._report("dropped", 1, None)
        return False

    def flush(self, timeout_s: float | None = None) -> bool:
        """Send everything buffered now; True once every event is sent or failed."""
        return self._buffer.drain(timeout_s)

    def close(self, timeout_s: float | None = 30.0) -> None:
        """Flush (for at most ``timeout_s``), then stop; what is still unsent then
        counts as failed."""
        flushed = self.flush(timeout_s)
        self._stop.set()
        if not flushed:
            self._abort.set()  # the batch in flight stops retrying
        self._sender.join()
        self._transport.close()

    def __enter__(self) -> Tracker:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def buffered(self) -> int:
        """Events tracked and not yet sent or failed."""
        return self._buffer.held

    def _headers(self, **more: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}", **more}

    def _fetch_versions(self, event_type: str) -> dict[str, Any]:
        path = f"/v1/games/{self._game}/schemas/{event_type}"
        reply = self._transport.request("GET", path, None, self._headers())
        if reply.status != 200:
            raise api_error(reply.status, answer_of(reply.body), reply.headers)
        found: dict[str, Any] = answer_of(reply.body)
        return found

    def _run(self) -> None:
        while True:
            batch = self._buffer.take(self._batching, self._stop)
            if not batch:
                if self._stop.is_set():
                    return
                continue
            try:
                self._deliver(batch)
                self._report("sent", len(batch), None)
            except PlaylogError as exc:
                log.warning("playlog: %d events not sent: %s", len(batch), exc)
                self._report("failed", len(batch), exc)
            except Exception as exc:  # a bug must not end the sender: flush() would hang
                log.exception("playlog: %d events not sent: a bug in the sender", len(batch))
                self._report("failed", len(batch), PlaylogError(f"internal error: {exc!r}"))
            finally:
                self._buffer.resolved(len(batch))

    def _deliver(self, batch: list[Encoded]) -> None:
        if self._abort.is_set():
            raise PlaylogError("the tracker closed before the server took these events")
        by_type: dict[str, list[Encoded]] = {}
        for event in batch:
            by_type.setdefault(event.schema.fingerprint, []).append(event)
        body = b"".join(
            container(group[0].schema.schema_json, [e.datum for e in group])
            for group in by_type.values()
        )
        headers = self._headers(**{"Content-Type": "application/avro"})
        headers["Idempotency-Key"] = uuid.uuid4().hex
        if self._compress:
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        path = f"/v1/games/{self._game}/events"
        post(self._transport, path, body, headers, self._backoff, self._abort, self._retrying)

    def _retrying(self, exc: PlaylogError) -> None:
        log.info("playlog: retrying a batch: %s", exc)
        self.stats.add("retried", 1)

    def _report(self, outcome: Outcome, count: int, error: PlaylogError | None) -> None:
        self.stats.add(outcome, count)
        if self._on_result is not None:
            try:
                self._on_result(outcome, count, error)
            except Exception:  # a callback's bug must not stop the sender
                log.exception("playlog: on_result callback failed")
