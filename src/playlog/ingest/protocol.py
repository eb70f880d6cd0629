"""HTTP/1.1 for uvicorn with the request head bounded: over the limit -> 431, unread.

uvicorn's default parser (httptools) reads a request line and headers of any size:
a client could make the server hold a 100 MB header before the 401. This protocol
keeps the fast parser and counts the bytes of each request's head as they arrive;
past the limit it answers 431 in playlog's error shape and closes the connection, so
at most the limit plus one socket read is ever held. Use::

    uvicorn.Config(app, http=limited_protocol(settings.server.max_header_bytes))
"""

from __future__ import annotations

import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _LimitedHead(HttpToolsProtocol):
    limit = 64 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_head = True  # until the headers of the current request are complete

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Counted before parsing, judged after: a chunk holding a small head and a
        # large body completes the head and is never mistaken for a large head.
        if self._in_head and self._head_bytes > self.limit and not self.transport.is_closing():
            self._send_431()

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head, self._head_bytes = True, 0
        super().on_message_complete()

    def _send_431(self) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": "request_header_fields_too_large",
                    "message": f"request line and headers over the limit of {self.limit} "
                    "bytes (server.max_header_bytes)",
                    "limit": self.limit,
                }
            }
        ).encode()
        head = (
            "HTTP/1.1 431 Request Header Fields Too Large\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        ).encode()
        self.transport.write(head + body)
        self.transport.close()


def limited_protocol(max_header_bytes: int) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, refusing request heads over ``max_header_bytes``."""
    return type("LimitedHeadProtocol", (_LimitedHead,), {"limit": max_header_bytes})
