"""The HTTP API's socket, bound before anything else opens."""

from __future__ import annotations

import errno
import socket

from playlog.errors import ConfigError


def listen(host: str, port: int) -> socket.socket:
    """The HTTP API's socket, bound here rather than by uvicorn (which logs a port in
    use and exits its thread): one clear error, and port 0 picks a free port."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:  # the usual case: say what to do
            reason = "address in use (another server? choose another --port)"
        else:
            reason = exc.strerror or str(exc)
        raise ConfigError(f"cannot listen on {host}:{port}: {reason}") from exc
    return sock
