"""The Confluent Schema Registry API (the subset tools use) over playlog's registry,
so Confluent's serializers, Kafka Connect and schema CLIs read and register its schemas.

A subject is ``{game}.{event_type}`` (what ``record_subject_name_strategy`` makes of a
record with namespace = game, name = event type); schema ids are the catalog's; the
compatibility level is playlog's rule, ``BACKWARD_TRANSITIVE``. Registration is
playlog's own (``Registry.register``: the checks, then CREATE/ALTER TABLE).

Keys come as HTTP Basic passwords (``auth.basic``). The admin key may do everything on
every subject; a game's key may read, look up and test its own game's subjects, and
lists only those. Registering takes the admin key, as ``POST /v1/games/{game}/schemas``
does: it changes the warehouse, and a game key ships inside game clients.

Answers and errors are ``application/vnd.schemaregistry.v1+json``; errors in
Confluent's shape ``{"error_code", "message"}`` with its codes (40401 subject, 40402
version, 40403 schema not found, 409 incompatible, 42201 invalid schema, 42202
invalid version, 401, 40301 forbidden, 50001 store unavailable).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from playlog.avro.schema import EventSchema
from playlog.errors import (
    BadRequest,
    Forbidden,
    IncompatibleSchema,
    InvalidPayload,
    NotFound,
    PlaylogError,
    TransientError,
)
from playlog.ingest.auth import basic
from playlog.ingest.http import Ingest, ingest, read_json, to_json
from playlog.names import NAME_PATTERN

log = logging.getLogger("playlog.ingest")

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
COMPATIBILITY = "BACKWARD_TRANSITIVE"
MAX_VERSION = 2**31 - 1  # Confluent's versions are Java ints
# ASCII digits only: int() also reads "+1", " 1" and other scripts' digits, raises on "²"
_POSITIVE = re.compile(r"0*[1-9][0-9]{0,17}")


class SubjectNotFound(NotFound):
    error_code = 40401


class VersionNotFound(NotFound):
    error_code = 40402


class SchemaNotFound(NotFound):
    error_code = 40403


class InvalidSchema(InvalidPayload):
    error_code = 42201


class InvalidVersion(InvalidPayload):
    error_code = 42202


# Confluent's code by status, for the errors without one of their own
_CODES = {403: 40301, 500: 50001, 503: 50001}


def _answer(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(to_json(content), status, headers, media_type=MEDIA_TYPE)


def refusal(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, PlaylogError):
        log.error("%s %s -> 500", request.method, request.url.path, exc_info=exc)
        return _answer({"error_code": 50001, "message": "internal error; see the server log"}, 500)
    if exc.status >= 500:
        log.warning("%s %s -> %d: %s", request.method, request.url.path, exc.status, exc)
    code = getattr(exc, "error_code", None) or _CODES.get(exc.status, exc.status)
    headers = {"WWW-Authenticate": 'Basic realm="playlog"'} if exc.status == 401 else None
    if isinstance(exc, TransientError):
        headers = {"Retry-After": "1"}
    return _answer({"error_code": code, "message": exc.message}, exc.status, headers)


@dataclass(frozen=True)
class Call:
    """One request, as the handlers (run off the event loop) need it."""

    deps: Ingest
    request: Request
    body: Any

    def param(self, name: str) -> str:
        value: str = self.request.path_params[name]
        return value

    def subject(self) -> tuple[str, str]:
        """The path's subject as (game, event type), once the key may use it."""
        owner = self.deps.auth.identify(self.request, basic)  # who asks before what is there
        subject = self.param("subject")
        game, _, event_type = subject.partition(".")
        if not (NAME_PATTERN.fullmatch(game) and NAME_PATTERN.fullmatch(event_type)):
            raise SubjectNotFound(f"subject {subject!r} is not '<game>.<event_type>'")
        if owner is not None and owner != game:
            raise Forbidden(f"this key belongs to another game than {game!r}")
        return game, event_type

    def versions(self) -> list[EventSchema]:
        game, event_type = self.subject()
        try:
            return self.deps.services.registry.versions(game, event_type)
        except NotFound as exc:
            raise SubjectNotFound(f"subject {game}.{event_type} not found") from exc

    def schema_text(self) -> str:
        """The body's schema: ``{"schema": "<Avro schema JSON>"}``, Avro only."""
        body = self.body if isinstance(self.body, dict) else {}
        if not isinstance(body.get("schema"), str):
            raise InvalidSchema('the body must be {"schema": "<the Avro schema as a string>"}')
        if (body.get("schemaType") or "AVRO") != "AVRO":
            raise InvalidSchema(f"schemaType {body['schemaType']!r}: playlog takes AVRO only")
        if body.get("references"):
            raise InvalidSchema("schema references are not supported")
        text: str = body["schema"]
        return text


def _endpoint(
    handler: Callable[[Call], Any], reads_body: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """A route's endpoint: ``handler`` off the event loop, every failure answered in
    Confluent's shape (never reaching the app's playlog-shaped handlers)."""

    async def endpoint(request: Request) -> Response:
        try:
            body = await read_json(request) if reads_body else None
            call = Call(ingest(request), request, body)
            return _answer(await run_in_threadpool(handler, call))
        except Exception as exc:
            return refusal(request, exc)

    return endpoint


def positive(text: str) -> int | None:
    """A version or id in the path as its number; None unless ASCII digits of one."""
    return int(text) if _POSITIVE.fullmatch(text) else None


def _registered(schema: EventSchema) -> dict[str, Any]:
    return {
        "subject": schema.table,
        "id": schema.schema_id,
        "version": schema.version,
        "schema": schema.schema_json,
    }


def _invalid_schema_from(exc: BadRequest) -> InvalidSchema:
    return InvalidSchema(exc.message, **exc.details)


# handlers -------------------------------------------------------------------------


def list_subjects(call: Call) -> list[str]:
    owner = call.deps.auth.identify(call.request, basic)
    pairs = call.deps.services.registry.event_types_of_all()
    return [f"{game}.{event}" for game, event in pairs if owner in (None, game)]


def list_versions(call: Call) -> list[int]:
    return [schema.version for schema in call.versions()]


def get_version(call: Call) -> dict[str, Any]:
    versions, wanted = call.versions(), call.param("version")
    if wanted in ("latest", "-1"):
        return _registered(versions[-1])
    number = positive(wanted)
    if number is None or number > MAX_VERSION:
        raise InvalidVersion(f"version {wanted[:40]!r}: 1 to {MAX_VERSION}, 'latest' or -1")
    for schema in versions:
        if schema.version == number:
            return _registered(schema)
    raise VersionNotFound(f"subject {versions[0].table} has no version {wanted}")


def register(call: Call) -> dict[str, Any]:
    game, event_type = call.subject()
    call.deps.auth.admin(call.request, basic)
    text = call.schema_text()
    try:
        schema, _ = call.deps.services.registry.register(game, event_type, text)
    except NotFound as exc:  # no such game
        raise SubjectNotFound(exc.message) from exc
    except BadRequest as exc:
        raise _invalid_schema_from(exc) from exc
    return {"id": schema.schema_id}


def look_up(call: Call) -> dict[str, Any]:
    versions, text = call.versions(), call.schema_text()
    game, event_type = versions[0].game, versions[0].event_type
    try:
        return _registered(call.deps.services.registry.find_version(game, event_type, text))
    except NotFound as exc:
        raise SchemaNotFound(exc.message) from exc
    except BadRequest as exc:
        raise _invalid_schema_from(exc) from exc


def get_by_id(call: Call) -> dict[str, Any]:
    owner = call.deps.auth.identify(call.request, basic)
    wanted = call.param("id")
    number = positive(wanted)
    if number is None:
        raise SchemaNotFound(f"no schema with id {wanted[:40]!r}")
    try:
        schema = call.deps.services.registry.by_id(number)
    except NotFound as exc:
        raise SchemaNotFound(f"no schema with id {number}") from exc
    if owner is not None and owner != schema.game:
        raise Forbidden(f"schema {wanted} belongs to another game than {owner!r}")
    return {"schema": schema.schema_json}


def check_compatibility(call: Call) -> dict[str, Any]:
    versions, text = call.versions(), call.schema_text()
    game, event_type = versions[0].game, versions[0].event_type
    try:
        call.deps.services.registry.check_compatible(game, event_type, text)
    except IncompatibleSchema as exc:
        answer: dict[str, Any] = {"is_compatible": False}
        if call.request.query_params.get("verbose", "").lower() == "true":
            answer["messages"] = [exc.message]
        return answer
    except BadRequest as exc:
        raise _invalid_schema_from(exc) from exc
    return {"is_compatible": True}


def get_config(call: Call) -> dict[str, Any]:
    call.deps.auth.identify(call.request, basic)
    return {"compatibilityLevel": COMPATIBILITY}


class NotSupported(NotFound):
    """The rest of the Confluent API (deletes, modes, config changes, contexts)."""

    error_code = 404


class MethodNotSupported(NotSupported):
    status = 405
    error_code = 405


def unsupported(call: Call) -> None:
    request = call.request
    what = f"{request.method} {request.url.path} is not in playlog's subset of the Confluent API"
    if request.method in ("GET", "POST"):
        raise NotSupported(what)
    raise MethodNotSupported(what)


# The rest of the API's paths, answered in its shape (DELETE a subject is a 405, not
# 404); the OpenAPI description leaves them out, as it does every unknown path.
OUTSIDE_SUBSET = [
    Route(path, _endpoint(unsupported), methods=["GET", "POST", "PUT", "DELETE"])
    for prefix in ("/subjects", "/schemas", "/compatibility", "/config", "/mode")
    for path in (prefix, prefix + "/{rest:path}")
]

ROUTES = [
    Route("/subjects", _endpoint(list_subjects), methods=["GET"]),
    Route("/subjects/{subject}/versions", _endpoint(list_versions), methods=["GET"]),
    Route("/subjects/{subject}/versions", _endpoint(register, True), methods=["POST"]),
    Route("/subjects/{subject}/versions/{version}", _endpoint(get_version), methods=["GET"]),
    Route("/subjects/{subject}", _endpoint(look_up, True), methods=["POST"]),
    Route("/schemas/ids/{id}", _endpoint(get_by_id), methods=["GET"]),
    Route(
        "/compatibility/subjects/{subject}/versions/latest",
        _endpoint(check_compatibility, True),
        methods=["POST"],
    ),
    Route("/config", _endpoint(get_config), methods=["GET"]),
    *OUTSIDE_SUBSET,  # last: they catch what the routes above do not take
]
