"""HTTP for the tracker on the standard library (``http.client``): importing httpx
alone takes longer than the tracker's whole import budget (0.2 s).

One keep-alive connection per transport, used by one request at a time; a connection
that failed is dropped and the next request opens a new one.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from playlog.client.errors import Unreachable, UntrustedServer
from playlog.errors import ConfigError


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


class Transport(Protocol):
    """What the tracker needs of HTTP; tests give it a fake."""

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Reply:
        """The server's answer, whatever its status; ``Unreachable`` when there is none."""
        ...

    def close(self) -> None: ...


def ssl_context(verify: bool | str | Path) -> ssl.SSLContext:
    """``True``: the system's certificate authorities; a path: that CA bundle (PEM);
    ``False``: no verification (tests only)."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=None if verify is True else str(verify))


class HttpTransport:
    def __init__(self, url: str, timeout_s: float, verify: bool | str | Path = True) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"not an http(s) URL: {url!r}")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout_s = timeout_s
        self._context = ssl_context(verify) if self._https else None
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            if self._https:
                self._connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout_s, context=self._context
                )
            else:
                self._connection = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._timeout_s
                )
        return self._connection

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Reply:
        with self._lock:
            connection = self._connect()
            try:
                connection.request(method, self._prefix + path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except ssl.SSLCertVerificationError as exc:  # retrying cannot help
                self._drop()
                raise UntrustedServer(
                    f"{self._host}: certificate verify failed ({exc.verify_message}); "
                    "give verify= the CA bundle that signed the server's certificate"
                ) from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                raise Unreachable(f"no answer from {self._host}: {exc}") from exc
            if response.will_close:
                self._drop()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def close(self) -> None:
        with self._lock:
            self._drop()
