"""The tracker against a fake transport: what it sends, when, and what it does with
each answer. (tests/e2e/test_tracker.py runs it against a real server.)"""

from __future__ import annotations

import gzip
import io
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import fastavro
import pytest
from tests.support.avro import fp

from playlog.avro.ocf import walk
from playlog.client import ApiError, Backoff, Batching, BufferFull, Tracker, Unreachable
from playlog.client.transport import Reply
from playlog.errors import (
    BadRequest,
    ConfigError,
    InvalidPayload,
    PlaylogError,
    TransientError,
    UnknownSchema,
)

LEVELUP: dict[str, Any] = {
    "type": "record",
    "name": "levelup",
    "fields": [{"name": "player", "type": "string"}, {"name": "level", "type": "int"}],
}
LEVELUP_V2: dict[str, Any] = {
    **LEVELUP,
    "fields": [*LEVELUP["fields"], {"name": "zone", "type": "string", "default": "-"}],
}
QUICK = Backoff(first_s=0.001, max_s=0.01, give_up_after_s=5)
ACCEPTED = Reply(202, {}, b'{"accepted": 1}')


def error(status: int, code: str, **more: Any) -> Reply:
    headers = {"retry-after": more.pop("retry_after")} if "retry_after" in more else {}
    body = {"error": {"code": code, "message": f"{code} said the server", **more}}
    return Reply(status, headers, json.dumps(body).encode())


class FakeServer:
    """The schema endpoint answers from ``versions``; each POST takes the next answer
    of ``answers`` (an exception is raised), then 202."""

    def __init__(self, answers: list[Reply | Exception] | None = None) -> None:
        self.versions: dict[str, list[dict[str, Any]]] = {"levelup": []}
        self.register(LEVELUP)
        self.answers = list(answers or [])
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.posted_at: list[float] = []
        self.lock = threading.Lock()

    def register(self, schema: dict[str, Any]) -> None:
        versions = self.versions["levelup"]
        versions.append({"version": len(versions) + 1, "fingerprint": fp(schema), "schema": schema})

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Reply:
        if method == "GET":
            event_type = path.rsplit("/", 1)[1]
            if event_type not in self.versions:
                return error(404, "not_found", event_type=event_type)
            payload = {"versions": self.versions[event_type]}
            return Reply(200, {}, json.dumps(payload).encode())
        with self.lock:
            self.posts.append((headers, body or b""))
            self.posted_at.append(time.monotonic())
            answer = self.answers.pop(0) if self.answers else ACCEPTED
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        pass

    def events(self, index: int) -> list[tuple[str, dict[str, Any]]]:
        """(schema name, event) of every container in POST ``index``."""
        headers, body = self.posts[index]
        if headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        found = []
        for part in walk(body):  # the server's own framing check first
            reader = fastavro.reader(io.BytesIO(body[part.start : part.end]))
            found += [(part.schema_json, cast(dict[str, Any], e)) for e in reader]
        return found


def tracker(server: FakeServer, **options: Any) -> Tracker:
    options.setdefault("backoff", QUICK)
    return Tracker("http://playlog", "g1", "pl_key", transport=server, **options)


def test_events_of_several_types_go_in_one_body_one_container_per_type() -> None:
    server = FakeServer()
    server.versions["kill"] = [
        {"version": 1, "fingerprint": "x", "schema": {**LEVELUP, "name": "kill"}}
    ]
    with tracker(server, batching=Batching(max_events=3, linger_s=60)) as t:
        t.track("levelup", {"player": "ann", "level": 1})
        t.track("kill", {"player": "bo", "level": 2})
        t.track("levelup", {"player": "cy", "level": 3})
        assert t.flush(5)
    assert len(server.posts) == 1
    headers, body = server.posts[0]
    assert headers["Content-Type"] == "application/avro"
    assert headers["Authorization"] == "Bearer pl_key" and headers["Idempotency-Key"]
    assert body.count(b"Obj\x01") == 2
    assert [e["player"] for _, e in server.events(0)] == ["ann", "cy", "bo"]
    assert t.stats.sent == 3 and t.stats.failed == 0


def test_a_batch_goes_when_it_reaches_its_event_or_byte_limit_or_lingered() -> None:
    server = FakeServer()
    t = tracker(server, batching=Batching(max_events=4, max_bytes=10**6, linger_s=60))
    for level in range(9):
        t.track("levelup", {"player": "ann", "level": level})
    wait(lambda: t.stats.sent == 8)  # two full batches; the ninth lingers
    assert [len(server.events(i)) for i in range(2)] == [4, 4]
    assert t.buffered == 1 and len(server.posts) == 2
    t.close()
    assert len(server.events(2)) == 1 and t.stats.sent == 9

    by_bytes = FakeServer()  # each datum is 1 + 20 + 1 bytes
    t = tracker(by_bytes, batching=Batching(max_events=100, max_bytes=50, linger_s=60))
    for _ in range(3):
        t.track("levelup", {"player": "x" * 20, "level": 1})
    wait(lambda: len(by_bytes.posts) == 1)
    t.close()
    assert [len(by_bytes.events(i)) for i in range(2)] == [2, 1]

    lingering = FakeServer()
    with tracker(lingering, batching=Batching(max_events=100, linger_s=0.05)) as t:
        t.track("levelup", {"player": "ann", "level": 1})
        wait(lambda: len(lingering.posts) == 1)  # no flush: the linger sent it


def test_an_invalid_event_raises_at_track_naming_the_field_and_is_not_buffered() -> None:
    server = FakeServer()
    with tracker(server) as t:
        with pytest.raises(InvalidPayload, match=r"levelup: level: expected int"):
            t.track("levelup", {"player": "ann", "level": "three"})
        with pytest.raises(InvalidPayload, match=r"unknown field\(s\) \['color'\]"):
            t.track("levelup", {"player": "ann", "level": 3, "color": "red"})
        with pytest.raises(InvalidPayload, match="level: missing"):
            t.track("levelup", {"player": "ann"})
        assert t.buffered == 0
    assert server.posts == []


def test_bad_names_and_options_raise_before_anything_is_sent() -> None:
    server = FakeServer()
    with (
        tracker(server) as t,
        pytest.raises(BadRequest, match=re.escape("invalid event_type '../keys'")),
    ):
        t.track("../keys", {"player": "ann", "level": 1})
    with pytest.raises(BadRequest, match="invalid game 'G 1'"):
        Tracker("http://playlog", "G 1", "pl_key", transport=server)
    with pytest.raises(ConfigError, match="when_full 'block' or 'drop' \\(not 'wait'\\)"):
        tracker(server, when_full="wait")
    with pytest.raises(ConfigError, match="not an http\\(s\\) URL: 'playlog:8080'"):
        Tracker("playlog:8080", "g1", "pl_key")
    assert server.posts == []


def test_an_unknown_event_type_raises_the_servers_error_at_track() -> None:
    with tracker(FakeServer()) as t, pytest.raises(ApiError) as info:
        t.track("nosuch", {"player": "ann"})
    assert (info.value.status, info.value.code) == (404, "not_found")
    assert info.value.details == {"event_type": "nosuch"}
    assert info.value.message == "not_found said the server"


def test_a_type_whose_schema_cannot_be_fetched_raises_a_transient_error_at_track() -> None:
    server = FakeServer()
    request = server.request

    def down(method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Reply:
        raise Unreachable("connection refused")

    server.request = down  # type: ignore[method-assign]
    with tracker(server) as t:
        with pytest.raises(Unreachable):
            t.track("levelup", {"player": "ann", "level": 1})
        assert t.buffered == 0
        server.request = request  # type: ignore[method-assign]
        assert t.track("levelup", {"player": "ann", "level": 1})  # not cached as missing
    assert t.stats.sent == 1


def test_the_schema_is_fetched_once_per_type_and_a_pin_keeps_an_older_version() -> None:
    server = FakeServer()
    server.register(LEVELUP_V2)
    fetches: list[str] = []
    request = server.request

    def counting(method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Reply:
        fetches.extend([path] * (method == "GET"))
        return request(method, path, body, headers)

    server.request = counting  # type: ignore[method-assign]
    with tracker(server) as latest, tracker(server, pins={"levelup": 1}) as pinned:
        for _ in range(3):
            latest.track("levelup", {"player": "ann", "level": 1})
        pinned.track("levelup", {"player": "bo", "level": 2})
        with pytest.raises(InvalidPayload, match="unknown field"):  # v1 has no zone
            pinned.track("levelup", {"player": "bo", "level": 2, "zone": "z"})
    assert len(fetches) == 2
    written = sorted(
        len(json.loads(schema)["fields"])
        for index in range(len(server.posts))
        for schema, _ in server.events(index)
    )
    assert written == [2, 3, 3, 3]
    with pytest.raises(UnknownSchema, match="no registered version 7"):
        tracker(server, pins={"levelup": 7}).track("levelup", {"player": "a", "level": 1})


def test_a_fingerprint_pin_keeps_the_version_of_that_fingerprint() -> None:
    server = FakeServer()
    server.register(LEVELUP_V2)
    with tracker(server, pins={"levelup": fp(LEVELUP)}) as pinned:
        pinned.track("levelup", {"player": "bo", "level": 2})
        with pytest.raises(InvalidPayload, match="unknown field"):  # v1 has no zone
            pinned.track("levelup", {"player": "bo", "level": 2, "zone": "z"})
    [(schema, event)] = server.events(0)
    assert (json.loads(schema), event) == (LEVELUP, {"player": "bo", "level": 2})
    with pytest.raises(UnknownSchema, match="no registered version '0000000000000000'"):
        tracker(server, pins={"levelup": "0" * 16}).track("levelup", {"player": "a", "level": 1})


def test_the_backoff_is_exponential_with_full_jitter_unless_the_server_says() -> None:
    backoff = Backoff(first_s=0.1, max_s=1.0)
    for attempt, ceiling in [(0, 0.1), (1, 0.2), (3, 0.8), (4, 1.0), (30, 1.0)]:
        delays = [backoff.delay(attempt, None) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays), attempt
        assert max(delays) > 0.8 * ceiling and min(delays) < 0.2 * ceiling  # spread over all
    assert backoff.delay(5, retry_after=2.5) == 2.5  # Retry-After, even past max_s


def test_transient_answers_and_lost_answers_are_retried_under_one_key() -> None:
    server = FakeServer(
        [
            error(503, "log_unavailable"),
            Unreachable("connection reset"),
            error(429, "too_many_requests"),
            error(409, "idempotency_key_in_progress"),
        ]
    )
    with tracker(server) as t:
        t.track("levelup", {"player": "ann", "level": 1})
    assert len(server.posts) == 5
    assert len({headers["Idempotency-Key"] for headers, _ in server.posts}) == 1
    assert len({body for _, body in server.posts}) == 1
    assert (t.stats.sent, t.stats.failed, t.stats.retried) == (1, 0, 4)


def test_retry_after_is_honoured() -> None:
    server = FakeServer([error(503, "log_unavailable", retry_after="0.3")])
    with tracker(server) as t:
        t.track("levelup", {"player": "ann", "level": 1})
        assert t.flush(5)
    assert len(server.posts) == 2
    assert server.posted_at[1] - server.posted_at[0] >= 0.3


def test_a_refused_batch_is_not_retried_and_the_callback_gets_the_servers_error() -> None:
    server = FakeServer([error(422, "invalid_payload", field="level")])
    results: list[tuple[str, int, PlaylogError | None]] = []
    t = tracker(server, on_result=lambda *result: results.append(result))
    t.track("levelup", {"player": "ann", "level": 1})
    t.track("levelup", {"player": "bo", "level": 2})
    t.close()
    assert len(server.posts) == 1 and (t.stats.sent, t.stats.failed) == (0, 2)
    [(outcome, count, failure)] = results
    assert (outcome, count) == ("failed", 2)
    assert isinstance(failure, ApiError) and not isinstance(failure, TransientError)
    assert (failure.status, failure.code, failure.message, failure.details) == (
        422,
        "invalid_payload",
        "invalid_payload said the server",
        {"field": "level"},
    )


def test_a_503_is_transient_and_carries_its_code() -> None:
    # Retry-After points past the time left: it gives up at once
    failures: list[PlaylogError | None] = []
    t = tracker(
        FakeServer([error(503, "log_unavailable", retry_after="1")]),
        backoff=Backoff(give_up_after_s=0.5),
        on_result=lambda outcome, count, exc: failures.append(exc),
    )
    t.track("levelup", {"player": "ann", "level": 1})
    t.close()
    [failure] = failures
    assert isinstance(failure, TransientError) and isinstance(failure, ApiError)
    assert (failure.status, failure.code, failure.retry_after) == (503, "log_unavailable", 1.0)
    assert t.stats.failed == 1


def held_server() -> tuple[FakeServer, threading.Event]:
    """A server whose POSTs hang until the event is set."""
    release = threading.Event()
    server = FakeServer()
    request = server.request

    def hanging(method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Reply:
        if method == "POST":
            release.wait(10)
        return request(method, path, body, headers)

    server.request = hanging  # type: ignore[method-assign]
    return server, release


def test_a_full_buffer_drops_and_counts_with_the_drop_policy() -> None:
    server, release = held_server()
    dropped: list[int] = []
    t = tracker(
        server,
        capacity=5,
        when_full="drop",
        batching=Batching(max_events=2, linger_s=0),
        on_result=lambda outcome, count, exc: dropped.extend([count] * (outcome == "dropped")),
    )
    kept = [t.track("levelup", {"player": "ann", "level": i}) for i in range(8)]
    assert kept == [True] * 5 + [False] * 3
    assert t.stats.dropped == 3 and dropped == [1, 1, 1] and t.buffered == 5
    release.set()
    t.close()
    assert t.stats.sent == 5


def test_a_full_buffer_blocks_then_raises_with_the_block_policy() -> None:
    server, release = held_server()
    t = tracker(server, capacity=3, block_timeout_s=1.0, batching=Batching(linger_s=0))
    for i in range(3):
        t.track("levelup", {"player": "ann", "level": i})
    started = time.monotonic()
    with pytest.raises(BufferFull, match="capacity 3"):
        t.track("levelup", {"player": "ann", "level": 9})
    assert time.monotonic() - started >= 1.0
    assert t.buffered == 3
    release.set()  # the held batch is answered: room for the next one within the timeout
    t.track("levelup", {"player": "ann", "level": 4})
    t.close()
    assert (t.stats.sent, t.stats.dropped) == (4, 0)


def test_gzip_bodies_are_marked_and_close_gives_up_on_a_dead_server() -> None:
    server = FakeServer()
    with tracker(server, compress=True) as t:
        t.track("levelup", {"player": "ann", "level": 1})
    assert server.posts[0][0]["Content-Encoding"] == "gzip"
    assert server.events(0)[0][1] == {"player": "ann", "level": 1}

    dead = FakeServer([Unreachable("refused")] * 10_000)
    t = tracker(dead, backoff=Backoff(first_s=0.01, max_s=0.01, give_up_after_s=600))
    t.track("levelup", {"player": "ann", "level": 1})
    started = time.monotonic()
    t.close(timeout_s=0.2)
    assert time.monotonic() - started < 2 and t.stats.failed == 1
    with pytest.raises(PlaylogError, match="closed"):
        t.track("levelup", {"player": "ann", "level": 1})


def wait(condition: Callable[[], bool], timeout_s: float = 5) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
