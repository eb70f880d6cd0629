"""A batch sent twice with one Idempotency-Key lands once (issue 9, finding 10)."""

from __future__ import annotations

import json

from tests.support.server import Server

PING = {"type": "record", "name": "ping", "fields": [{"name": "seq", "type": "long"}]}


def test_a_batch_retried_with_its_key_lands_once(server: Server) -> None:
    key = server.game("g1")
    assert server.register("g1", "ping", PING).status_code == 201
    batch = json.dumps([{"event_type": "ping", "data": {"seq": i}} for i in range(50)])

    first = server.send("g1", key, batch.encode(), "application/json", **{"Idempotency-Key": "b1"})
    retry = server.send("g1", key, batch.encode(), "application/json", **{"Idempotency-Key": "b1"})
    assert first.status_code == retry.status_code == 202, retry.text
    assert first.json() == retry.json() == {"accepted": 50}
    assert retry.headers["idempotent-replayed"] == "true"
    # Another key, another batch: it lands, so the count below is final, not early.
    other = json.dumps([{"event_type": "ping", "data": {"seq": 50}}])
    assert server.send("g1", key, other.encode(), "application/json",
                       **{"Idempotency-Key": "b2"}).status_code == 202  # fmt: skip

    assert server.wait_for_rows("g1.ping", 51) == 51
    assert server.query("select count(distinct seq) from g1.ping") == [[51]]
