"""HTTP/1.1 for uvicorn with the request head bounded: over the limit -> 431.

h11 stops reading a request whose line and headers exceed
``h11_max_incomplete_event_size`` (uvicorn then answers a bare 400; httptools, its
default parser, reads any size), so a 100 MB header is refused after the first
64 KiB, never read. This protocol answers 431 in our error shape instead. Use:

    uvicorn.Config(app, http=LimitedH11Protocol,
                   h11_max_incomplete_event_size=settings.server.max_header_bytes)
"""

from __future__ import annotations

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_HINT_TOO_LARGE = 431
_H11_DEFAULT = 16 * 1024  # h11's own default


class _Connection(h11.Connection):
    """Remembers the status h11 suggests for the last protocol error."""

    error_status = 400

    def next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            self.error_status = exc.error_status_hint
            raise


class LimitedH11Protocol(H11Protocol):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.limit = self.config.h11_max_incomplete_event_size or _H11_DEFAULT
        self.conn = self.limited = _Connection(h11.SERVER, self.limit)

    def send_400_response(self, msg: str) -> None:
        if self.limited.error_status != _HINT_TOO_LARGE:
            super().send_400_response(msg)
            return
        body = (
            '{"error": {"code": "request_header_fields_too_large", "message": '
            f'"request line and headers over the limit of {self.limit} bytes '
            f'(server.max_header_bytes)", "limit": {self.limit}}}}}'
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(
                status_code=431, headers=headers, reason=b"Request Header Fields Too Large"
            ),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()
