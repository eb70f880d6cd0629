"""The Confluent Schema Registry API's part of the OpenAPI description (``openapi``):
the subset ``confluent`` serves, in Confluent's shapes. Bodies come as
``application/vnd.schemaregistry.v1+json`` (what Confluent's clients send) or
``application/json``; answers are the former; errors are ``{"error_code", "message"}``,
except 431, which the server answers before it routes a request (playlog's shape)."""

from __future__ import annotations

import json
from typing import Any

from playlog.ingest.confluent import COMPATIBILITY, MAX_VERSION, MEDIA_TYPE
from playlog.ingest.openapi_schemas import LEVELUP, object_schema, path_parameter, ref
from playlog.names import NAME_PATTERN

BODY_TYPES = (MEDIA_TYPE, "application/json")
_INT = {"type": "integer", "minimum": 1}
_TEXT = {"type": "string"}


def _object(**properties: Any) -> dict[str, Any]:
    """An object whose properties are all required."""
    return object_schema(properties)


SCHEMAS: dict[str, Any] = {
    "ConfluentError": {
        **_object(error_code={"type": "integer"}, message=_TEXT),
        "description": "Confluent's error shape; `error_code` is the status, or Confluent's "
        "finer code: 40401 no such subject, 40402 no such version, 40403 no such schema, "
        "40301 forbidden, 42201 invalid schema, 42202 invalid version, 50001 the store "
        "cannot answer (503) or a server bug (500).",
    },
    "ConfluentSchema": {
        "type": "object",
        "required": ["schema"],
        "properties": {
            "schema": {**_TEXT, "description": "The Avro record schema, as JSON text."},
            "schemaType": {"enum": ["AVRO"], "description": "AVRO only (the default)."},
            "references": {"type": "array", "maxItems": 0, "description": "Not supported."},
        },
        "examples": [{"schema": json.dumps(LEVELUP)}],
    },
    "SubjectVersion": _object(subject=_TEXT, id=_INT, version=_INT, schema=_TEXT),
    "SchemaId": _object(id=_INT),
    "SchemaById": _object(schema=_TEXT),
    "Compatibility": {
        "type": "object",
        "required": ["is_compatible"],
        "properties": {
            "is_compatible": {"type": "boolean"},
            "messages": {"type": "array", "items": _TEXT, "description": "With `verbose`."},
        },
    },
    "CompatibilityLevel": _object(compatibilityLevel={"const": COMPATIBILITY}),
}

SECURITY_SCHEMES = {
    "adminBasic": {
        "type": "http",
        "scheme": "basic",
        "description": "The admin key as the HTTP Basic password, any user name "
        "(`basic.auth.user.info = <user>:<key>` in Confluent's clients).",
    },
    "gameBasic": {
        "type": "http",
        "scheme": "basic",
        "description": "A game's key as the HTTP Basic password: its own game's subjects.",
    },
}
_ANYONE_WITH_A_KEY: list[dict[str, list[str]]] = [
    {"adminBasic": []},
    {"gameBasic": []},
    {"adminKey": []},
    {"gameKey": []},
]
_ADMIN: list[dict[str, list[str]]] = [{"adminBasic": []}, {"adminKey": []}]

_ERROR_TEXT = {
    400: "The body is not JSON.",
    401: "No key, or an unknown or revoked key.",
    403: "40301: a game key on another game's subject or schema, or registering "
    "(registration changes the warehouse: the admin key only).",
    404: "40401 no such subject (or no such game, or a subject not `<game>.<event_type>`), "
    "40402 no such version, 40403 no such schema.",
    409: "The schema cannot read what an earlier version wrote (Avro's backward "
    "compatibility, transitively, and playlog's column rules).",
    413: "The body is over `server.max_body_bytes`.",
    422: "42201 an invalid schema (not an Avro record, a `schemaType` other than AVRO, "
    "references, an invalid default), 42202 an invalid version.",
    500: "50001: a server bug; the details are in the server log only.",
    503: "50001: the catalog or the warehouse cannot answer now; nothing was changed. "
    "Retry after `Retry-After` seconds.",
}
_HEADERS = {
    401: {"WWW-Authenticate": {"required": True, "schema": _TEXT, "description": "Basic."}},
    503: {"Retry-After": {"required": True, "schema": _TEXT, "description": "Seconds."}},
}


def _answer(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {MEDIA_TYPE: {"schema": schema}}}


def error_responses() -> dict[str, Any]:
    return {
        f"C{status}": {**_answer(ref("ConfluentError"), text), "headers": _HEADERS.get(status, {})}
        for status, text in _ERROR_TEXT.items()
    }


def _errors(*statuses: int) -> dict[str, Any]:
    """Error answers by status, in order; every operation may also answer 401, 500, 503
    and 431 (the one in playlog's shape: the server refuses the head unrouted)."""
    return {
        str(s): {"$ref": f"#/components/responses/{'E' if s == 431 else 'C'}{s}"}
        for s in sorted({*statuses, 401, 431, 500, 503})
    }


SUBJECT = path_parameter(
    "subject",
    {"type": "string", "pattern": f"^{NAME_PATTERN.pattern}\\.{NAME_PATTERN.pattern}$",
     "examples": ["g1.levelup"]},
    "`{game}.{event_type}`: what `record_subject_name_strategy` makes of a record whose "
    "namespace is the game and name the event type.",
)  # fmt: skip
VERSION = path_parameter(
    "version",
    {"anyOf": [{**_INT, "maximum": MAX_VERSION}, {"const": -1}, {"const": "latest"}]},
    "A version number, or `latest` (or -1) for the newest.",
)
SCHEMA_ID = path_parameter("id", _INT, "The schema's id, as registration answered it.")
_BODY = {
    "required": True,
    "description": "The schema, as Confluent's clients send it.",
    "content": {media: {"schema": ref("ConfluentSchema")} for media in BODY_TYPES},
}
_TAGS = ["Confluent Schema Registry"]
_READ = {"security": _ANYONE_WITH_A_KEY, "tags": _TAGS}


def paths() -> dict[str, Any]:
    verbose = {"name": "verbose", "in": "query", "required": False,
               "schema": {"type": "boolean"}, "description": "`true`: say why not."}  # fmt: skip
    return {
        "/subjects": {"get": {
            "summary": "Subjects (a game key: its own game's)", **_READ,
            "responses": {"200": _answer({"type": "array", "items": _TEXT}, "The subjects."),
                          **_errors()},
        }},
        "/subjects/{subject}/versions": {
            "get": {
                "summary": "A subject's versions", **_READ, "parameters": [SUBJECT],
                "responses": {"200": _answer({"type": "array", "items": _INT}, "Oldest first."),
                              **_errors(403, 404)},
            },
            "post": {
                "summary": "Register a schema under a subject",
                "description": "playlog's registration: the compatibility checks, then "
                "CREATE/ALTER TABLE `game.event_type`, before answering. A schema known "
                "already answers its id and changes nothing.",
                "security": _ADMIN, "tags": _TAGS, "parameters": [SUBJECT],
                "requestBody": _BODY,
                "responses": {"200": _answer(ref("SchemaId"), "Its id."),
                              **_errors(400, 403, 404, 409, 413, 422)},
            },
        },
        "/subjects/{subject}/versions/{version}": {"get": {
            "summary": "One version of a subject", **_READ, "parameters": [SUBJECT, VERSION],
            "responses": {"200": _answer(ref("SubjectVersion"), "The version."),
                          **_errors(403, 404, 422)},
        }},
        "/subjects/{subject}": {"post": {
            "summary": "Look up a schema under a subject", **_READ, "parameters": [SUBJECT],
            "requestBody": _BODY,
            "responses": {"200": _answer(ref("SubjectVersion"), "Its version."),
                          **_errors(400, 403, 404, 413, 422)},
        }},
        "/schemas/ids/{id}": {"get": {
            "summary": "A schema by its id", **_READ, "parameters": [SCHEMA_ID],
            "responses": {"200": _answer(ref("SchemaById"), "The schema."),
                          **_errors(403, 404)},
        }},
        "/compatibility/subjects/{subject}/versions/latest": {"post": {
            "summary": "Test a schema against the subject's versions", **_READ,
            "description": f"Against every version ({COMPATIBILITY}), as registering would.",
            "parameters": [SUBJECT, verbose], "requestBody": _BODY,
            "responses": {"200": _answer(ref("Compatibility"), "Whether it may register."),
                          **_errors(400, 403, 404, 413, 422)},
        }},
        "/config": {"get": {
            "summary": "The compatibility level", **_READ,
            "responses": {"200": _answer(ref("CompatibilityLevel"), "playlog's rule."),
                          **_errors()},
        }},
    }  # fmt: skip
