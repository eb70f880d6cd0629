"""The errors a client sees, built from the server's answer.

PlaylogError
 ├── ApiError                       an error answer: status, the server's code,
 │    │                             message and details (e.g. ``field``, ``rule``)
 │    └── TransientApiError         429, 502, 503, 504 and 409
 │                                  idempotency_key_in_progress: retry later
 │                                  (``retry_after`` from the answer's header)
 ├── UntrustedServer (terminal)     the server's TLS certificate does not verify
 └── TransientError
      ├── Unreachable               no answer: connection refused or reset, timeout
      └── BufferFull                the tracker's buffer stayed full past its timeout
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from playlog.errors import PlaylogError, TerminalError, TransientError

# Answers worth the same request again later: throttled, the log cannot take the batch
# now, a load balancer without a healthy node, or another request with the same
# Idempotency-Key still running (the server died mid-request, or it is slow).
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
KEY_IN_PROGRESS = "idempotency_key_in_progress"


class ApiError(PlaylogError):
    """An error answer of the server: ``status``, and its ``code``, ``message`` and
    ``details`` as the server sent them."""

    def __init__(self, status: int, body: Any, retry_after: float | None = None) -> None:
        error = body.get("error") if isinstance(body, dict) else None
        fields = dict(error) if isinstance(error, dict) else {}
        code = fields.pop("code", None)
        message = fields.pop("message", None) or f"HTTP {status}: {str(body)[:200]}"
        super().__init__(str(message), **fields)
        self.status = status
        self.body = body
        self.code = str(code or f"http_{status}")
        self.retry_after = retry_after


class TransientApiError(ApiError, TransientError):
    """An answer that says: the same request may succeed later."""


class UntrustedServer(TerminalError):
    code = "untrusted_server"


class Unreachable(TransientError):
    code = "unreachable"


class BufferFull(TransientError):
    code = "buffer_full"


def api_error(status: int, body: Any, headers: Mapping[str, str] | None = None) -> ApiError:
    """The error of an answer, transient or not by its status and code."""
    retry_after = _seconds((headers or {}).get("retry-after"))
    error = ApiError(status, body, retry_after)
    if status in TRANSIENT_STATUSES or error.code == KEY_IN_PROGRESS:
        return TransientApiError(status, body, retry_after)
    return error


def _seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the HTTP-date form is not used by playlog)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
