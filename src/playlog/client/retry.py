"""Send one batch until the server took it, refused it, or time ran out.

Retried: no answer (``Unreachable``) and transient answers (``TransientApiError``:
429, 502, 503, 504, a concurrent request with the same key), after ``Retry-After``
when the server sent one, else after an exponential backoff with full jitter (so
many game servers that lost the same ingest node do not return in step). Never
retried: any other answer; the batch keeps its ``Idempotency-Key`` across attempts,
so a retry after a lost answer is appended once.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playlog.client.errors import api_error
from playlog.client.transport import Transport
from playlog.errors import TransientError


@dataclass(frozen=True)
class Backoff:
    first_s: float = 0.1
    max_s: float = 5.0
    give_up_after_s: float = 300.0  # then the batch counts as failed

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        # the exponent capped: 2.0**1024 overflows, and max_s is reached long before
        return random.uniform(0, min(self.max_s, self.first_s * 2 ** min(attempt, 64)))


def answer_of(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def post(
    transport: Transport,
    path: str,
    body: bytes,
    headers: dict[str, str],
    backoff: Backoff,
    abort: threading.Event,
    on_retry: Callable[[TransientError], None] | None = None,
) -> Any:
    """The JSON answer of the first 2xx; raises the last error when it stops trying
    (a terminal answer, ``give_up_after_s`` spent, or ``abort`` set)."""
    deadline = time.monotonic() + backoff.give_up_after_s
    attempt = 0
    while True:
        try:
            reply = transport.request("POST", path, body, headers)
            if reply.status < 300:
                return answer_of(reply.body)
            raise api_error(reply.status, answer_of(reply.body), reply.headers)
        except TransientError as exc:
            pause = backoff.delay(attempt, getattr(exc, "retry_after", None))
            if time.monotonic() + pause > deadline or abort.wait(pause):
                raise
            if on_retry is not None:
                on_retry(exc)
            attempt += 1


__all__ = ["Backoff", "answer_of", "post"]
