"""HTTPS in-process: the certificate and key of ``server.tls_cert``/``server.tls_key``,
checked before anything starts, so a wrong path or a key of another certificate is one
line and exit code 1 instead of a stage dying inside uvicorn."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from playlog.errors import ConfigError
from playlog.settings import ServerSettings


def uvicorn_tls(server: ServerSettings) -> dict[str, Any]:
    """uvicorn's ``ssl_certfile``/``ssl_keyfile`` (empty for plain HTTP); ConfigError
    when they cannot serve."""
    cert, key = server.tls_cert, server.tls_key
    if cert is None and key is None:
        return {}
    if cert is None or key is None:
        raise ConfigError(
            "server.tls_cert and server.tls_key go together: set both, or neither for plain HTTP"
        )
    _exists("server.tls_cert", cert)
    _exists("server.tls_key", key)
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        reason = _REASONS.get(getattr(exc, "reason", None) or _UNREADABLE, str(exc))
        raise ConfigError(f"cannot load the certificate and key ({cert}, {key}): {reason}") from exc
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}


# OpenSSL's reasons, in words (a file that is no PEM at all comes without one)
_UNREADABLE = "PEM_LIB"
_REASONS = {
    "KEY_VALUES_MISMATCH": "the key does not belong to the certificate",
    _UNREADABLE: "not a PEM certificate chain and a PEM private key",
    "NO_START_LINE": "not a PEM certificate chain and a PEM private key",
}


def _exists(setting: str, path: Path) -> None:
    if not path.is_file():
        raise ConfigError(f"{setting} {path}: no such file")
