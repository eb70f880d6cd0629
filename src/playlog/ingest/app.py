"""The HTTP API (ASGI, Starlette): the route table, the error handlers, and the
handlers' dependencies on ``app.state.ingest``. Routes and status codes are the public
interface documented in ARCHITECTURE.md; keep them exactly.

One module per resource holds its handlers: ``games`` (games and keys), ``schemas``,
``events``, ``query``, ``health`` (health, readiness, metrics, status page), ``docs``
(the OpenAPI description of them, in ``openapi``); ``http``
holds what they share (bodies, JSON answers, auth checks, the error shape).
``confluent`` adds the Confluent Schema Registry API, in that API's shapes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route

from playlog.errors import PlaylogError
from playlog.ingest import confluent, docs, events, games, health, query, schemas
from playlog.ingest.auth import Auth
from playlog.ingest.http import Ingest, on_error, on_http_error, on_unexpected
from playlog.ingest.timing import RequestTiming

if TYPE_CHECKING:
    from playlog.wiring import Services

ROUTES = [
    Route("/v1/games", games.create_game, methods=["POST"]),
    Route("/v1/games", games.list_games, methods=["GET"]),
    Route("/v1/games/{game}", games.delete_game, methods=["DELETE"]),
    Route("/v1/games/{game}/keys", games.add_key, methods=["POST"]),
    Route("/v1/games/{game}/keys/{key_id}", games.revoke_key, methods=["DELETE"]),
    Route("/v1/games/{game}/schemas/{event_type}", schemas.register_schema, methods=["POST"]),
    Route("/v1/games/{game}/schemas/{event_type}", schemas.list_schemas, methods=["GET"]),
    Route("/v1/schemas/{fingerprint}", schemas.get_schema, methods=["GET"]),
    Route("/v1/games/{game}/events", events.post_events, methods=["POST"]),
    Route("/v1/query", query.query, methods=["POST"]),
    Route("/healthz", health.healthz),
    Route("/readyz", health.readyz),
    Route("/metrics", health.prometheus),
    Route("/", health.status_page),
    Route("/v1/status", health.status_data),
    Route("/openapi.json", docs.openapi_json),
    Route("/docs", docs.docs_page),
    *confluent.ROUTES,
]


def create_app(services: Services, admin_key: str) -> Starlette:
    app = Starlette(
        routes=ROUTES,
        middleware=[Middleware(RequestTiming, routes=ROUTES)],
        exception_handlers={
            PlaylogError: on_error,
            HTTPException: on_http_error,
            Exception: on_unexpected,
        },
    )
    probe = None if services.warehouse is None else health.WarehouseProbe(services.warehouse)
    auth = Auth(services.catalog, admin_key)
    app.state.ingest = Ingest(services, auth, probe, health.StatusCache(services))
    return app
