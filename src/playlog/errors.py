"""Every error playlog raises on purpose.

    PlaylogError
     ├── ObjectMissing                    no object under that key (the caller decides
     │                                    what that means: no lease yet, a lost file)
     ├── TransientError (mixin)           retry later; nothing was changed
     │    ├── LogUnavailable              503: the log cannot take the batch now
     │    ├── StoreUnavailable            the object store is down or throttling
     │    ├── CatalogUnavailable          the catalog's database is down
     │    └── WarehouseUnavailable        the warehouse is down or unreachable
     │         └── WarehouseConflict      deadlock / serialization failure: retry the txn
     └── TerminalError (mixin)            retrying cannot help
          ├── ConfigError                 bad settings; fix the config and restart
          ├── ClientError                 the caller sent something wrong (HTTP 4xx)
          │    ├── BadRequest             400: body, name or schema invalid
          │    │    ├── InvalidPayload    422: events do not match their schema
          │    │    │    └── UnknownSchema  422: fingerprint not registered for the game
          │    │    ├── InvalidDefault    422: a field's default is not a value of its type
          │    │    └── ReservedName      400: a name the warehouse or playlog uses itself
          │    ├── Unauthorized           401: no or unknown key
          │    ├── Forbidden              403: key valid but not for this game/operation
          │    ├── NotFound               404: no such game, key or schema (HTTP only)
          │    ├── Conflict               409: already exists
          │    │    ├── IncompatibleSchema  409: breaks compatibility (names field + rule)
          │    │    └── KeyInProgress     409: a request with this Idempotency-Key runs now
          │    ├── PayloadTooLarge        413
          │    ├── UnsupportedMediaType   415
          │    ├── QueryTimeout           408: a query ran past its time limit
          │    ├── ResultTooLarge         413: a query's result is over the byte limit
          │    └── TooManyQueries         429: every query slot is taken
          ├── WarehouseError              a load failed for a reason in the data or SQL
          ├── RecordsExpired              a group's committed offset is below the log start:
          │                               retention deleted records it never read (an alert,
          │                               never a skip; an operator decides)
          └── CorruptRecord               a log record cannot be decoded (dead-letter it)

Whether to retry is a property of the type: callers test
``isinstance(exc, TransientError)`` and never parse messages.
"""

from __future__ import annotations

from typing import Any


class PlaylogError(Exception):
    """Root of playlog's errors. ``code`` is the stable machine-readable name."""

    code = "playlog_error"
    status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


class TransientError(PlaylogError):
    """Retrying later may succeed; the failed operation changed nothing."""

    code = "unavailable"
    status = 503


class TerminalError(PlaylogError):
    """Retrying the same operation cannot succeed."""


class ConfigError(TerminalError):
    code = "config_error"


class ClientError(TerminalError):
    status = 400
    code = "bad_request"


class BadRequest(ClientError):
    status = 400
    code = "bad_request"


class InvalidPayload(BadRequest):
    """The body parses but its events do not match their schema."""

    status = 422
    code = "invalid_payload"


class UnknownSchema(InvalidPayload):
    code = "unknown_schema"


class InvalidDefault(BadRequest):
    """A schema field's default that its type cannot hold (names the field)."""

    status = 422
    code = "invalid_default"


class ReservedName(BadRequest):
    code = "reserved_name"


class Unauthorized(ClientError):
    status = 401
    code = "unauthorized"


class Forbidden(ClientError):
    status = 403
    code = "forbidden"


class NotFound(ClientError):
    status = 404
    code = "not_found"


class Conflict(ClientError):
    status = 409
    code = "conflict"


class IncompatibleSchema(Conflict):
    code = "incompatible_schema"


class KeyInProgress(Conflict):
    """Another request with the same ``Idempotency-Key`` has not been answered yet."""

    code = "idempotency_key_in_progress"


class PayloadTooLarge(ClientError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ClientError):
    status = 415
    code = "unsupported_media_type"


class QueryTimeout(ClientError):
    status = 408
    code = "query_timeout"


class ResultTooLarge(ClientError):
    status = 413
    code = "result_too_large"


class TooManyQueries(ClientError):
    status = 429
    code = "too_many_queries"


class LogUnavailable(TransientError):
    code = "log_unavailable"


class StoreUnavailable(TransientError):
    code = "store_unavailable"


class CatalogUnavailable(TransientError):
    code = "catalog_unavailable"


class WarehouseUnavailable(TransientError):
    code = "warehouse_unavailable"


class WarehouseConflict(WarehouseUnavailable):
    """Deadlock or serialization failure: the transaction rolled back; run it again."""

    code = "warehouse_conflict"


class WarehouseError(TerminalError):
    code = "warehouse_error"


class RecordsExpired(TerminalError):
    """Records a consumer group had not read yet are gone (retention deleted them).

    Raised by a subscription for one partition, which it then stops consuming: skipping
    ahead would lose data without a word. ``details`` name the group, topic, partition,
    committed offset and what the log said; an operator replays the missing range from
    its source, then moves the group's offset on.
    """

    code = "records_expired"


class CorruptRecord(TerminalError):
    code = "corrupt_record"


class ObjectMissing(PlaylogError):
    """No object under a key of the object store. Internal: never an HTTP answer."""

    code = "object_missing"


__all__ = [
    "BadRequest",
    "CatalogUnavailable",
    "ClientError",
    "ConfigError",
    "Conflict",
    "CorruptRecord",
    "Forbidden",
    "IncompatibleSchema",
    "InvalidDefault",
    "InvalidPayload",
    "KeyInProgress",
    "LogUnavailable",
    "NotFound",
    "ObjectMissing",
    "PayloadTooLarge",
    "PlaylogError",
    "QueryTimeout",
    "RecordsExpired",
    "ReservedName",
    "ResultTooLarge",
    "StoreUnavailable",
    "TerminalError",
    "TooManyQueries",
    "TransientError",
    "Unauthorized",
    "UnknownSchema",
    "UnsupportedMediaType",
    "WarehouseConflict",
    "WarehouseError",
    "WarehouseUnavailable",
]
