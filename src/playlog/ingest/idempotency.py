"""``Idempotency-Key`` on ``POST /v1/games/{game}/events``: a retried batch is answered,
never appended twice.

    claim = keys.begin("g1", "batch-42")    # or the first request's Answer: replay it
    ... append ...                           # failed: keys.release(claim), the retry goes on
    keys.finish(claim, Answer(202, {"accepted": 3}, request_id))

The keys live in the catalog database, which every ingest node shares. Insert first:
the row (game, key) is claimed before the append, so of two concurrent requests with
one key only one appends; the other waits for its answer (``WAIT_S``), else 409. A claim
older than ``STALE_S`` without an answer belongs to a node that died mid-request: taken
over. Answers are kept for ``server.idempotency_window_s``, then purged (bounded disk).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from playlog.errors import BadRequest, CatalogUnavailable, KeyInProgress
from playlog.registry.catalog import Catalog

log = logging.getLogger("playlog.ingest")

MAX_KEY_LENGTH = 255
WAIT_S = 10.0  # a repeat waits this long for the first request's answer, then 409
STALE_S = 120.0  # longer than any append may take (Kafka: message.timeout.ms + 5 s)
PURGE_EVERY_S = 60.0

_purge_lock = threading.Lock()
_next_purge = 0.0


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    request_id: str

    def to_json(self) -> str:
        return json.dumps({"status": self.status, "body": self.body, "request_id": self.request_id})

    @classmethod
    def from_json(cls, text: str) -> Answer:
        raw = json.loads(text)
        return cls(int(raw["status"]), raw["body"], str(raw["request_id"]))


@dataclass(frozen=True)
class Claim:
    game: str
    key: str
    token: str


def check_key(key: str) -> str:
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise BadRequest(f"Idempotency-Key: 1 to {MAX_KEY_LENGTH} printable characters")
    return key


class IdempotencyKeys:
    def __init__(self, catalog: Catalog, window_s: float) -> None:
        self._catalog = catalog
        self._window_s = window_s

    def begin(self, game: str, key: str) -> Claim | Answer:
        """Claim (game, key), or the answer of the request that claimed it (blocking)."""
        self._purge()
        deadline = time.monotonic() + WAIT_S
        while True:
            now, claim = time.time(), Claim(game, key, uuid.uuid4().hex)
            # Unanswered, a claim is kept at least until it goes stale (purge).
            keep_until = now + max(self._window_s, STALE_S)
            if self._catalog.claim_key(game, key, claim.token, now, keep_until):
                return claim
            state = self._catalog.key_state(game, key)
            if state is None:
                continue  # released or purged meanwhile: claim again
            token, answer, claimed_at, expires_at = state
            if token == claim.token:
                # Ours: the claim committed but its answer was lost (the connection
                # broke after COMMIT, and the retried transaction found the row).
                return claim
            # Unanswered past STALE_S: its node died mid-request.
            expired = now - claimed_at > STALE_S if answer is None else expires_at < now
            if expired:
                if self._catalog.take_over_key(game, key, token, claim.token, now, keep_until):
                    return claim
                continue
            if answer is not None:
                return Answer.from_json(answer)
            if time.monotonic() > deadline:
                raise KeyInProgress(
                    f"a request with Idempotency-Key {key!r} is in progress; retry later",
                    idempotency_key=key,
                )
            time.sleep(0.05)

    def finish(self, claim: Claim, answer: Answer) -> None:
        """Keep ``answer`` for the window. Best effort: the batch is durable already, so
        a catalog outage here must not turn a 202 into an error (the claim then goes
        stale after ``STALE_S``, and only a retry after that could append again)."""
        try:
            self._catalog.answer_key(
                claim.game, claim.key, claim.token, answer.to_json(), time.time() + self._window_s
            )
        except CatalogUnavailable as exc:
            log.warning("idempotency key %r of %s not answered: %s", claim.key, claim.game, exc)

    def release(self, claim: Claim) -> None:
        try:
            self._catalog.release_key(claim.game, claim.key, claim.token)
        except CatalogUnavailable as exc:  # the claim goes stale: a retry waits STALE_S
            log.warning("idempotency key %r of %s not released: %s", claim.key, claim.game, exc)

    def _purge(self) -> None:
        global _next_purge
        with _purge_lock:
            if time.monotonic() < _next_purge:
                return
            _next_purge = time.monotonic() + PURGE_EVERY_S
        self._catalog.purge_keys(time.time())


__all__ = ["Answer", "Claim", "IdempotencyKeys", "check_key"]
