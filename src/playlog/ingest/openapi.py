"""The OpenAPI 3.1 description of the HTTP API, served at ``GET /openapi.json`` and
rendered at ``GET /docs``: the one place the API is described. A unit test checks it
against the routes the app mounts (both ways) and validates it; a seeded schemathesis
run against a live ``playlog up`` checks that the answers keep to it."""

from __future__ import annotations

from functools import cache
from typing import Any

from playlog.ingest import openapi_confluent as confluent
from playlog.ingest.idempotency import MAX_KEY_LENGTH
from playlog.ingest.openapi_schemas import FINGERPRINT, NAME_SCHEMA, SCHEMAS
from playlog.ingest.openapi_schemas import path_parameter as _path
from playlog.ingest.openapi_schemas import ref as _ref

JSON = "application/json"


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}, **extra}


def _errors(*statuses: int) -> dict[str, Any]:
    """Error answers by status, all in the ``{"error": {...}}`` shape; every operation
    may also answer 431 (request head too large) and 500 (a bug)."""
    return {str(s): {"$ref": f"#/components/responses/E{s}"} for s in (*statuses, 431, 500)}


GAME = _path("game", NAME_SCHEMA, "The game's name.")
EVENT_TYPE = _path("event_type", NAME_SCHEMA, "The event type: its table is `game.event_type`.")
ADMIN: list[dict[str, list[str]]] = [{"adminKey": []}]
ADMIN_OR_GAME: list[dict[str, list[str]]] = [{"adminKey": []}, {"gameKey": []}]

_ERROR_TEXT = {
    400: "The body, a name or a header is invalid (not JSON, bad gzip, bad name).",
    401: "No key, or an unknown or revoked key.",
    403: "A valid key that may not do this (a game key on an admin operation, "
    "or another game's key).",
    404: "No such game, key, schema or warehouse.",
    408: "The query ran past `query.timeout_s` and was cancelled.",
    409: "A conflict: the name exists, the schema is incompatible (`field`, `rule`), "
    "or a request with this `Idempotency-Key` is still in progress.",
    413: "The body (or what it inflates to, or its event count, or a query's result) "
    "is over its limit, named in `limit`.",
    415: "The `Content-Type` is not one of the event formats.",
    422: "The events (or a schema's default) do not match their schema; the message "
    "names the event and field.",
    429: "Every query slot is taken (`query.max_concurrent`); retry later.",
    431: "The request line and headers are over `server.max_header_bytes`.",
    500: "A server bug; the details are in the server log only.",
    503: "Unavailable now (the log, the catalog or the warehouse); nothing was changed. "
    "Retry after `Retry-After` seconds.",
}


def _error_responses() -> dict[str, Any]:
    retry = {"Retry-After": {"schema": {"type": "string"}, "description": "Seconds to wait."}}
    return {
        f"E{status}": _json(_ref("Error"), text, **({"headers": retry} if status == 503 else {}))
        for status, text in _ERROR_TEXT.items()
    }


def _body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"required": True, "description": description, "content": {JSON: {"schema": schema}}}


def _games() -> dict[str, Any]:
    key_id = _path("key_id", {"type": "string"}, "The key's id, as `key_id` answered.")
    return {
        "/v1/games": {"post": {
            "summary": "Create a game", "security": ADMIN,
            "requestBody": _body(_ref("NewGame"), "The game's name."),
            "responses": {"201": _json(_ref("Key"), "Created, with its first key."),
                          **_errors(400, 401, 403, 409, 413, 503)},
        }, "get": {
            "summary": "List the games", "security": ADMIN,
            "description": "Every game but playlog's own canary game.",
            "responses": {"200": _json(_ref("Games"), "The games, by name."),
                          **_errors(401, 403, 503)},
        }},
        "/v1/games/{game}": {"delete": {
            "summary": "Delete a game", "security": ADMIN, "parameters": [GAME],
            "description": "Revokes its keys, drops its tables, removes its schema versions "
                           "from the catalog. Events still on their way are dead letters.",
            "responses": {"200": _json(_ref("DeletedGame"), "Deleted."),
                          **_errors(400, 401, 403, 404, 503)},
        }},
        "/v1/games/{game}/keys": {"post": {
            "summary": "Add a key to a game", "security": ADMIN, "parameters": [GAME],
            "responses": {"201": _json(_ref("Key"), "The new key."),
                          **_errors(400, 401, 403, 404, 503)},
        }},
        "/v1/games/{game}/keys/{key_id}": {"delete": {
            "summary": "Revoke a key", "security": ADMIN, "parameters": [GAME, key_id],
            "responses": {"200": _json(_ref("Revoked"), "Revoked: it stops at once on this "
                                       "node, within 30 s on the others."),
                          **_errors(400, 401, 403, 404, 503)},
        }},
    }  # fmt: skip


def _schemas() -> dict[str, Any]:
    fingerprint = _path("fingerprint", FINGERPRINT, "The schema hash (CRC-64-AVRO).")
    return {
        "/v1/games/{game}/schemas/{event_type}": {
            "post": {
                "summary": "Register a schema version",
                "description": "Checks compatibility with every earlier version, then "
                "creates or alters the table `game.event_type` before answering.",
                "security": ADMIN, "parameters": [GAME, EVENT_TYPE],
                "requestBody": _body(_ref("AvroRecord"), "An Avro record schema."),
                "responses": {"200": _json(_ref("Registered"), "Known already: nothing changed."),
                              "201": _json(_ref("Registered"), "A new version."),
                              **_errors(400, 401, 403, 404, 409, 413, 422, 503)},
            },
            "get": {
                "summary": "The versions of an event type", "security": ADMIN_OR_GAME,
                "parameters": [GAME, EVENT_TYPE],
                "responses": {"200": _json(_ref("Versions"), "Every version, oldest first."),
                              **_errors(400, 401, 403, 404, 503)},
            },
        },
        "/v1/schemas/{fingerprint}": {"get": {
            "summary": "One schema by its hash", "security": ADMIN_OR_GAME,
            "parameters": [fingerprint],
            "responses": {"200": _json(_ref("Schema"), "The schema."),
                          **_errors(401, 403, 404, 503)},
        }},
    }  # fmt: skip


def _events() -> dict[str, Any]:
    def binary(description: str) -> dict[str, Any]:
        return {"schema": {"type": "string", "contentMediaType": "application/octet-stream",
                           "description": description}}  # fmt: skip

    idempotency = {
        "name": "Idempotency-Key", "in": "header", "required": False,
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH,
                   "pattern": "^[ -~]+$"},
        "description": "A repeat within `server.idempotency_window_s` appends nothing and "
        "answers the first 202 again (`Idempotent-Replayed: true`).",
    }  # fmt: skip
    encoding = {
        "name": "Content-Encoding", "in": "header", "required": False,
        "schema": {"type": "string", "enum": ["gzip", "identity"]},
        "description": "`gzip`: the body is gzip (members back to back allowed).",
    }  # fmt: skip
    request_id = {
        "schema": {"type": "string"},
        "description": "The request's id: the "
        "`X-Request-Id` sent, else one made; logged and kept in the log's record.",
    }
    own_id = {
        "name": "X-Request-Id",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "Your id for this request.",
    }
    replayed = {
        "schema": {"type": "string", "enum": ["true"]},
        "description": "Present on the answer to a repeated `Idempotency-Key`.",
    }
    return {"/v1/games/{game}/events": {"post": {
        "summary": "Send a batch of events",
        "description": "Answers 202 once the batch is durable in the log; a refused batch "
        "changes nothing.",
        "security": [{"gameKey": []}], "parameters": [GAME, idempotency, encoding, own_id],
        "requestBody": {"required": True, "content": {
            "application/avro": binary("Avro Object Container Files back to back, one event "
                                       "type per container, any codec of Avro 1.12."),
            "avro/binary": binary("The same as `application/avro`."),
            "application/vnd.apache.avro+binary": binary("Single-object encoded events back "
                "to back: `C3 01`, the 8-byte fingerprint, the datum."),
            JSON: {"schema": {"type": "array", "items": _ref("JsonEvent")}},
        }},
        "responses": {
            "202": _json(_ref("Accepted"), "Durable in the log.",
                         headers={"X-Request-Id": request_id, "Idempotent-Replayed": replayed}),
            **_errors(400, 401, 403, 409, 413, 415, 422, 503),
        },
    }}}  # fmt: skip


def _operations() -> dict[str, Any]:
    text = {"text/plain": {"schema": {"type": "string"}}}
    html = {"text/html": {"schema": {"type": "string"}}}
    return {
        "/v1/query": {"post": {
            "summary": "A read-only query on the warehouse",
            "description": "One SELECT or WITH statement; at most `query.max_rows` rows.",
            "security": ADMIN,
            "requestBody": _body(_ref("Query"), "The SQL."),
            "responses": {"200": _json(_ref("QueryResult"), "The result."),
                          **_errors(400, 401, 403, 404, 408, 413, 429, 503)},
        }},
        "/v1/status": {"get": {
            "summary": "The status page's data", "security": [*ADMIN, {}],
            "description": "The admin key is needed unless `server.public_status` is true.",
            "responses": {"200": _json(_ref("Status"), "Totals, tables, stages, lag, loader, "
                                       "canary, refusals, dead letters, recent history."),
                          **_errors(401, 403, 503)},
        }},
        "/healthz": {"get": {"summary": "Liveness", "security": [],
                             "responses": {"200": _json(_ref("Health"), "Alive."),
                                           **_errors()}}},
        "/readyz": {"get": {
            "summary": "Readiness: the log answers (the warehouse is reported, not counted)",
            "security": [],
            "responses": {"200": _json(_ref("Ready"), "Ready."),
                          "503": _json(_ref("Ready"), "Not ready; `checks` say which check fails "
                                                         "(and why, to the admin key)."),
                          **_errors()},
        }},
        "/metrics": {"get": {"summary": "Prometheus metrics", "security": [], "responses": {
            "200": {"description": "Prometheus text format.", "content": text}, **_errors()}}},
        "/": {"get": {"summary": "Status page", "security": [], "responses": {
            "200": {"description": "HTML.", "content": html}, **_errors()}}},
        "/openapi.json": {"get": {"summary": "This description", "security": [], "responses": {
            "200": _json({"type": "object"}, "OpenAPI 3.1."), **_errors()}}},
        "/docs": {"get": {"summary": "This description as a page", "security": [],
                          "responses": {"200": {"description": "HTML.", "content": html},
                                        **_errors()}}},
    }  # fmt: skip


@cache
def document() -> dict[str, Any]:
    """The description (built once; treat it as read-only)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "playlog",
            "version": "1",
            "summary": "Game telemetry from the game client to the analytics warehouse.",
            "description": 'JSON answers; every error is `{"error": {"code": ..., '
            '"message": ..., ...}}`, an unknown path (404 `not_found`) and method (405 '
            "`method_not_allowed`) included. Keys travel as `Authorization: Bearer <key>`. "
            "The Confluent Schema Registry API's subset (`/subjects`, `/schemas/ids`, "
            "`/compatibility`, `/config`) answers in Confluent's shapes "
            '(`{"error_code": ..., "message": ...}`) and also takes a key as the password '
            "of HTTP Basic auth; the rest of that API answers 404 (405 for PUT and DELETE).",
        },
        "paths": {**_games(), **_schemas(), **_events(), **_operations(), **confluent.paths()},
        "components": {
            "schemas": {**SCHEMAS, **confluent.SCHEMAS},
            "responses": {**_error_responses(), **confluent.error_responses()},
            "securitySchemes": {
                **confluent.SECURITY_SCHEMES,
                "adminKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The admin key (`PLAYLOG_ADMIN_KEY`).",
                },
                "gameKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A key of the game in the path (or the subject's).",
                },
            },
        },
    }
