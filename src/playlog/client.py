"""A Python client of the HTTP API (used by the CLI, the canary and the demo), and how
to find the running server and its admin key."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from playlog.contracts import server_file
from playlog.errors import PlaylogError


class ApiError(PlaylogError):
    """An error answer of the server, with its status and code."""

    def __init__(self, status: int, body: Any) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(error.get("message") or str(body), status=status, code=error.get("code"))
        self.status = status


def server_url(data_dir: Path, explicit: str | None = None) -> str | None:
    """--url, else PLAYLOG_URL, else what a running server wrote in the data dir."""
    if explicit:
        return explicit.rstrip("/")
    if os.environ.get("PLAYLOG_URL"):
        return os.environ["PLAYLOG_URL"].rstrip("/")
    marker = server_file(data_dir)
    try:
        found = json.loads(marker.read_text())
        os.kill(int(found["pid"]), 0)  # a marker left by a killed server is stale
        return str(found["url"])
    except (OSError, ValueError, KeyError):
        return None


def admin_key_of(data_dir: Path) -> str | None:
    if os.environ.get("PLAYLOG_ADMIN_KEY"):
        return os.environ["PLAYLOG_ADMIN_KEY"]
    path = data_dir / "admin_key"
    return path.read_text().strip() if path.exists() else None


class Client:
    def __init__(
        self,
        url: str,
        key: str | None,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(
            base_url=url, headers=headers, timeout=timeout_s, transport=transport
        )

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise PlaylogError(f"cannot reach playlog at {self.url}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code >= 400:
            raise ApiError(response.status_code, body)
        return body

    def alive(self) -> bool:
        try:
            return self._http.get("/healthz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def create_game(self, game: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", "/v1/games", json={"game": game})
        return result

    def add_key(self, game: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", f"/v1/games/{game}/keys")
        return result

    def register(self, game: str, event_type: str, schema: str | dict[str, Any]) -> dict[str, Any]:
        text = schema if isinstance(schema, str) else json.dumps(schema)
        result: dict[str, Any] = self.request(
            "POST", f"/v1/games/{game}/schemas/{event_type}", content=text
        )
        return result

    def send(
        self,
        game: str,
        body: bytes,
        content_type: str,
        key: str | None = None,
        idempotency_key: str | None = None,
        attempts: int = 3,
    ) -> dict[str, Any]:
        """Send one batch. It carries an ``Idempotency-Key`` (a new one unless given),
        so the retries of a lost answer or a 503 (``attempts`` in all, backing off)
        append it once."""
        headers = {
            "Content-Type": content_type,
            "Idempotency-Key": idempotency_key or uuid.uuid4().hex,
        }
        if key:
            headers["Authorization"] = f"Bearer {key}"
        for attempt in range(1, attempts + 1):
            try:
                result: dict[str, Any] = self.request(
                    "POST", f"/v1/games/{game}/events", content=body, headers=headers
                )
                return result
            except ApiError as exc:
                if exc.status != 503 or attempt == attempts:
                    raise
            except PlaylogError:  # no answer: the batch may or may not be in the log
                if attempt == attempts:
                    raise
            time.sleep(min(2.0, 0.1 * 2**attempt))
        raise AssertionError("unreachable")

    def query(self, sql: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", "/v1/query", json={"sql": sql})
        return result

    def close(self) -> None:
        self._http.close()
