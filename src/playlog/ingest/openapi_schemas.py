"""The JSON Schemas of the bodies and answers in the OpenAPI description
(``playlog.ingest.openapi``): what the handlers send and read, field by field; and the
small builders both parts of the description use (``openapi``, ``openapi_confluent``)."""

from __future__ import annotations

from typing import Any

from playlog.names import NAME_PATTERN

NAME_SCHEMA = {"type": "string", "pattern": f"^{NAME_PATTERN.pattern}$"}
FINGERPRINT = {
    "type": "string",
    "pattern": "^[0-9a-f]{16}$",
    "description": "CRC-64-AVRO of the Parsing Canonical Form, 16 hex digits.",
}
AVRO_NAME = "^[A-Za-z_][A-Za-z0-9_]{0,62}$"
PRIMITIVES = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
LEVELUP = {
    "type": "record",
    "name": "levelup",
    "fields": [
        {"name": "player", "type": "string"},
        {"name": "level", "type": "int"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}
LEVELUP_EVENT = {
    "event_type": "levelup",
    "data": {"player": "ann", "level": 3, "ts": 1764151200000},
}
_NUMBER = {"type": "number"}
_MAYBE_NUMBER = {"type": ["number", "null"]}
_MAYBE_STRING = {"type": ["string", "null"]}
_TABLE = {"type": "string", "description": "The warehouse table, `game.event_type`."}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def path_parameter(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema,
            "description": description}  # fmt: skip


def object_schema(required: dict[str, Any], **optional: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **optional},
    }


SCHEMAS: dict[str, Any] = {
    "Error": object_schema(
        {
            "error": {
                **object_schema({"code": {"type": "string"}, "message": {"type": "string"}}),
                "description": "`code` is stable and machine-readable; more fields name "
                "what failed (`field`, `rule`, `limit`, ...).",
            }
        }
    ),
    "NewGame": {**object_schema({"game": NAME_SCHEMA}), "examples": [{"game": "g1"}]},
    "Key": object_schema(
        {
            "game": NAME_SCHEMA,
            "key_id": {"type": "string"},
            "api_key": {"type": "string", "description": "Shown once: keep it."},
        }
    ),
    "Revoked": object_schema(
        {"game": NAME_SCHEMA, "key_id": {"type": "string"}, "revoked": {"const": True}}
    ),
    "Games": object_schema({"games": {"type": "array", "items": NAME_SCHEMA}}),
    "DeletedGame": object_schema(
        {
            "game": NAME_SCHEMA,
            "deleted": {"const": True},
            "tables": {"type": "array", "items": _TABLE, "description": "Tables dropped."},
        }
    ),
    "AvroRecord": {
        **object_schema(
            {
                "type": {"const": "record"},
                "name": {"type": "string", "pattern": AVRO_NAME},
                "fields": {"type": "array", "items": {"$ref": "#/components/schemas/AvroField"}},
            }
        ),
        "description": "An Avro record schema; new versions must read every earlier "
        "version's events (new fields need defaults).",
        "examples": [LEVELUP],
    },
    "AvroField": object_schema(
        {
            "name": {"type": "string", "pattern": AVRO_NAME},
            "type": {
                "description": "A primitive's name, a named type's name, a type object "
                "(record, enum, array, map, fixed, a logical type) or a union (an array).",
                "anyOf": [{"enum": PRIMITIVES}, {"type": "object"}, {"type": "array"}],
            },
        },
        default={"description": "Needed by a field added in a later version."},
        doc={"type": "string"},
    ),
    "Registered": object_schema(
        {"fingerprint": FINGERPRINT, "version": {"type": "integer", "minimum": 1}, "table": _TABLE}
    ),
    "Versions": object_schema(
        {
            "game": NAME_SCHEMA,
            "event_type": NAME_SCHEMA,
            "table": _TABLE,
            "versions": {
                "type": "array",
                "items": object_schema(
                    {
                        "version": {"type": "integer", "minimum": 1},
                        "fingerprint": FINGERPRINT,
                        "schema": {"type": "object"},
                    }
                ),
            },
        }
    ),
    "Schema": object_schema(
        {
            "fingerprint": FINGERPRINT,
            "game": NAME_SCHEMA,
            "event_type": NAME_SCHEMA,
            "version": {"type": "integer", "minimum": 1},
            "table": _TABLE,
            "schema": {"type": "object"},
        }
    ),
    "JsonEvent": {
        **object_schema(
            {"event_type": NAME_SCHEMA, "data": {"type": "object"}},
            schema={**FINGERPRINT, "description": "Pins a version; else the latest."},
        ),
        "description": "A union takes the bare value; bytes and fixed are base64; "
        "timestamps are epoch integers in the schema's unit or RFC 3339 strings.",
        "examples": [LEVELUP_EVENT],
    },
    "Accepted": object_schema({"accepted": {"type": "integer", "minimum": 1}}),
    "Query": {
        **object_schema({"sql": {"type": "string", "minLength": 1}}),
        "examples": [{"sql": "select count(*) from g1.levelup"}, {"sql": "select 1"}],
    },
    "QueryResult": object_schema(
        {
            "columns": {"type": "array", "items": {"type": "string"}},
            "rows": {"type": "array", "items": {"type": "array"}},
            "truncated": {"type": "boolean"},
        }
    ),
    "Status": {
        **object_schema(
            {
                "at": _NUMBER,
                "freshness_slo_s": _NUMBER,
                "totals": {"type": "object", "additionalProperties": _MAYBE_NUMBER},
                "tables": {
                    "type": "array",
                    "items": object_schema(
                        {
                            "table": _TABLE,
                            "rows": _NUMBER,
                            "rows_per_min": _MAYBE_NUMBER,
                            "freshness_s": _MAYBE_NUMBER,
                            "stale": {"type": "boolean"},
                            "failed": {
                                "type": ["integer", "null"],
                                "description": "Failed events not replayed yet.",
                            },
                        }
                    ),
                },
                "heartbeat_interval_s": _NUMBER,
                "stages": {"type": "object", "additionalProperties": _MAYBE_NUMBER},
                "lag": {"type": "array", "items": {"type": "object"}},
                "loader": object_schema({"state": _MAYBE_STRING, "reason": _MAYBE_STRING}),
                "warehouse_up": {"type": ["boolean", "null"]},
                "canary": object_schema(
                    {"ok": {"type": ["boolean", "null"]}, "latency_s": _MAYBE_NUMBER}
                ),
                "refused": {"type": "object", "additionalProperties": _NUMBER},
                "dead_letters": {"type": "object", "additionalProperties": _NUMBER},
                "failed": {"type": ["array", "null"], "items": {"type": "object"}},
                "history": {"type": "object"},
            }
        ),
        "description": "What the status page shows; `failed` is null where "
        "`playlog.failed_events` cannot be read.",
    },
    "Health": object_schema({"status": {"const": "ok"}}),
    "Ready": object_schema(
        {
            "ready": {"type": "boolean"},
            "checks": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "`log` (counts), `warehouse`, `loader`: `ok`, else why not "
                "(the admin key) or `failing` (anyone else).",
            },
        }
    ),
}
