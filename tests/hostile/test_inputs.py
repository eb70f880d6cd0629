"""Each hostile input, sent to a running `playlog up`: a 4xx (or a 202 and a dead
letter), the server alive and ready after it, valid events still loaded exactly."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

import pytest

from tests.hostile.bodies import CONTENT_TYPES, CORPUS, GAME, JSON, hostile
from tests.hostile.conftest import Target

HOSTILE = hostile()
# what each answers: the limit it hits, or 202 where the framing is right
EXPECTED = {
    "deep-soe": (422, "nested deeper than 64 levels"),
    "deep-ocf": (422, "nested deeper than 64 levels"),
    "deep-json": (422, "nested deeper than 64 levels"),
    "deflate-bomb": (413, "83886080"),
    "gzip-bomb": (413, "83886080"),
    "gzip-members": (422, "empty"),
    "null-array-bomb": (422, "zero bytes"),
    "short-block": (202, ""),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_input_is_refused_and_the_server_carries_on(target: Target, name: str) -> None:
    content_type, body, encoding = HOSTILE[name]
    status, reason = EXPECTED[name]
    dead_before = target.metric("playlog_dead_letters_total", stage="process")
    started = time.monotonic()
    response = target.send(content_type, body, encoding)
    assert time.monotonic() - started < 15
    assert response.status_code == status, response.text[:300]
    assert reason in response.text
    if status == 202:  # framed correctly: the processor dead-letters it
        deadline = time.monotonic() + 30
        while target.metric("playlog_dead_letters_total", stage="process") <= dead_before:
            assert time.monotonic() < deadline, "no dead letter"
            time.sleep(0.2)
    target.assert_healthy()


CORPUS_FILES = sorted(CORPUS.glob("*.bin"))


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.stem for p in CORPUS_FILES])
def test_corpus_body_gets_a_4xx(target: Target, path: Path) -> None:
    kind = path.name.split("-")[0]
    encoding = "gzip" if kind == "gzip" else ""
    response = target.send(CONTENT_TYPES.get(kind, JSON), path.read_bytes(), encoding)
    assert 400 <= response.status_code < 500, (path.name, response.status_code, response.text)
    assert response.json()["error"]["code"]
    assert target.server.process is not None and target.server.process.poll() is None


def test_corpus_leaves_the_server_healthy(target: Target) -> None:
    target.assert_healthy()


def test_client_disconnecting_mid_body_is_a_499_not_a_500(target: Target) -> None:
    before = {s: target.metric("playlog_ingest_requests_total", status=s) for s in ("499", "500")}
    head = (
        f"POST /v1/games/{GAME}/events HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {target.key}\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", target.server.port), timeout=10) as sock:
        sock.sendall(head + b"[" * 1000)
        time.sleep(0.3)
    deadline = time.monotonic() + 10
    while target.metric("playlog_ingest_requests_total", status="499") <= before["499"]:
        assert time.monotonic() < deadline, "no 499 counted"
        time.sleep(0.1)
    assert target.metric("playlog_ingest_requests_total", status="500") == before["500"]
    assert "Traceback" not in target.server.log_tail()
    target.assert_healthy()


def test_a_100_mb_header_is_not_read(target: Target) -> None:
    """The server stops reading a head past server.max_header_bytes (431)."""
    head = f"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 100_000}".encode()
    with socket.create_connection(("127.0.0.1", target.server.port), timeout=10) as sock:
        sock.sendall(head)
        time.sleep(0.3)
        with contextlib.suppress(OSError):
            sock.sendall(b"\r\n\r\n")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert b"request_header_fields_too_large" in answer
    sent = 0
    with socket.create_connection(("127.0.0.1", target.server.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
        with contextlib.suppress(OSError):
            while sent < 100 * 1024 * 1024:
                sock.sendall(b"a" * 65536)
                sent += 65536
    assert sent < 20 * 1024 * 1024
    target.assert_healthy()
