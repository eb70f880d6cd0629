"""The request head is bounded: over ``server.max_header_bytes`` -> 431, unread."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from playlog.cli.demo import free_port
from playlog.ingest.protocol import limited_protocol

LIMIT = 64 * 1024


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"hello {len(await request.body())}")


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    port = free_port()
    app = Starlette(routes=[Route("/", hello, methods=["GET", "POST"])])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        http=limited_protocol(LIMIT),  # as runtime.py serves
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield port
    server.should_exit = True
    thread.join(10)


def request(port: int, header_bytes: int) -> bytes:
    """The head in two reads: all but its end, then the end."""
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * header_bytes + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head[:-4])
        time.sleep(0.2)
        with contextlib.suppress(OSError):  # over the limit the server has answered
            sock.sendall(head[-4:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
            if b"hello" in answer or b"}}" in answer:
                break
        return answer


def test_headers_within_the_limit_are_served(port: int) -> None:
    assert request(port, LIMIT - 1024).startswith(b"HTTP/1.1 200")


def test_headers_over_the_limit_are_431_naming_it(port: int) -> None:
    answer = request(port, LIMIT + 8 * 1024)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert b'"code": "request_header_fields_too_large"' in answer
    assert f'"limit": {LIMIT}'.encode() in answer
    assert request(port, 10).startswith(b"HTTP/1.1 200")  # still serving


def test_a_100_mb_header_is_not_read(port: int) -> None:
    """The server stops reading at the limit and closes: the sender cannot push 100 MB."""
    sent = 0
    piece = b"a" * 65536
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
        try:
            while sent < 100 * 1024 * 1024:
                sock.sendall(piece)
                sent += len(piece)
        except OSError:  # reset or broken pipe: the server closed on us
            pass
    assert sent < 20 * 1024 * 1024  # what the kernels' buffers hold, not 100 MB
    assert request(port, 10).startswith(b"HTTP/1.1 200")


def test_a_large_body_behind_a_small_head_is_no_large_head(port: int) -> None:
    """Head and body arrive in the same reads: only the head counts."""
    body = b"x" * (4 * LIMIT)
    head = f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body + head + body)  # two requests, pipelined
        answer = b""
        while answer.count(b"hello") < 2 and (chunk := sock.recv(65536)):
            answer += chunk
    assert answer.count(f"hello {len(body)}".encode()) == 2, answer[:300]
