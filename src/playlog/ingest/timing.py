"""``playlog_http_request_duration_seconds``: an ASGI middleware timing every answer.

The ``route`` label is the route's template (``/v1/games/{game}/events``), never the
path: a label per game or per random path would grow without bound."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from playlog.monitor import metrics

UNMATCHED = "unmatched"
# Clients choose the method: any other is one label value, not one each.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestTiming:
    def __init__(self, app: ASGIApp, routes: list[Route]) -> None:
        self._app = app
        self._templates: dict[Callable[..., Any], str] = {r.endpoint: r.path for r in routes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.monotonic()
        status = 500  # what the client sees when the app raises before answering

        async def send_timed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_timed)
        finally:
            # The router put the matched endpoint into the scope.
            route = self._templates.get(scope.get("endpoint"), UNMATCHED)  # type: ignore[arg-type]
            metrics.HTTP_SECONDS.labels(
                method=scope["method"] if scope["method"] in METHODS else "other",
                route=route,
                code=str(status),
            ).observe(time.monotonic() - started)
