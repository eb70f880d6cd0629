"""The client sends every batch with an Idempotency-Key and retries it with the same key."""

from __future__ import annotations

import httpx
import pytest

from playlog.client import ApiError, Client


def test_a_retried_batch_carries_the_same_idempotency_key() -> None:
    seen: list[str] = []
    answers = [httpx.Response(503, json={"error": {"code": "log_unavailable", "message": "x"}})]

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Idempotency-Key"])
        if len(seen) == 2:
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return answers.pop(0) if answers else httpx.Response(202, json={"accepted": 1})

    client = Client("http://playlog", "pl_key", transport=httpx.MockTransport(handle))
    assert client.send("g1", b"[]", "application/json") == {"accepted": 1}
    assert len(seen) == 3 and len(set(seen)) == 1 and seen[0]
    client.send("g1", b"[]", "application/json")
    assert seen[3] != seen[0]  # a new batch, a new key


def test_a_refused_batch_is_not_retried() -> None:
    calls: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(422, json={"error": {"code": "invalid_payload", "message": "x"}})

    client = Client("http://playlog", "pl_key", transport=httpx.MockTransport(handle))
    with pytest.raises(ApiError) as info:
        client.send("g1", b"[]", "application/json", idempotency_key="mine")
    assert info.value.status == 422 and calls == [1]
