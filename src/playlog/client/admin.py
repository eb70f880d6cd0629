"""The admin client of the HTTP API (the CLI, the canary, the demo and the tests use
it): one call per endpoint, on httpx."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx

from playlog.client.errors import ApiError, Unreachable, api_error
from playlog.errors import TransientError


class Client:
    def __init__(
        self,
        url: str,
        key: str | None,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        verify: bool = True,
    ) -> None:
        """``verify``: check the server's certificate against the public authorities,
        or the bundle in ``SSL_CERT_FILE``."""
        self.url = url
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(
            base_url=url, headers=headers, timeout=timeout_s, transport=transport, verify=verify
        )

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise Unreachable(f"cannot reach playlog at {self.url}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code >= 400:
            raise api_error(response.status_code, body, response.headers)
        return body

    def alive(self) -> bool:
        try:
            return self._http.get("/healthz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def readiness(self) -> dict[str, Any]:
        """``GET /readyz``: ``{"ready", "checks"}``, answered 200 or 503 alike."""
        try:
            result: dict[str, Any] = self.request("GET", "/readyz")
        except ApiError as exc:
            if exc.status != 503 or not isinstance(exc.body, dict):
                raise
            return exc.body
        return result

    def create_game(self, game: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", "/v1/games", json={"game": game})
        return result

    def games(self) -> list[str]:
        return [str(game) for game in self.request("GET", "/v1/games")["games"]]

    def delete_game(self, game: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("DELETE", f"/v1/games/{game}")
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
            except TransientError:  # 503, or no answer: the batch may be in the log
                if attempt == attempts:
                    raise
            time.sleep(min(2.0, 0.1 * 2**attempt))
        raise AssertionError("unreachable")

    def query(self, sql: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", "/v1/query", json={"sql": sql})
        return result

    def close(self) -> None:
        self._http.close()
