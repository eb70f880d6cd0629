"""``GET /openapi.json`` (the description) and ``GET /docs`` (the same as one static
HTML page, rendered here from the description: no viewer, no CDN, nothing fetched
at run time). Both are open to anyone, like ``/healthz``."""

from __future__ import annotations

import json
import re
from functools import cache
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from playlog.ingest.http import to_json
from playlog.ingest.openapi import document

_STYLE = """body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto}
h3{font-family:monospace;background:#eef;padding:.3rem .5rem}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left;vertical-align:top}
pre{background:#f6f6f6;padding:.5rem;overflow:auto}code{background:#f3f3f3}"""


def _text(markdown: str) -> str:
    """Escaped, with the description's `code` spans (the only Markdown it uses) shown."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(markdown))


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node`` itself, or what its local ``$ref`` points to."""
    ref = node.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return node
    found: Any = doc
    for part in ref[2:].split("/"):
        found = found[part]
    return dict(found)


def _schema_text(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    if schema.get("type") == "array" and "items" in schema:
        return f"array of {_schema_text(schema['items'])}"
    shown = {k: v for k, v in schema.items() if k != "description"}
    kind = "bytes" if "contentMediaType" in schema else f"<code>{escape(json.dumps(shown))}</code>"
    return f"{kind} {_text(schema.get('description', ''))}"


def _content(content: dict[str, Any]) -> str:
    return "<br>".join(
        f"<code>{escape(media)}</code> {_schema_text(body.get('schema', {}))}"
        for media, body in content.items()
    )


def _parameters(parameters: list[dict[str, Any]]) -> str:
    if not parameters:
        return ""
    rows = "".join(
        f"<tr><td><code>{escape(p['name'])}</code> ({escape(p['in'])})</td>"
        f"<td>{_schema_text(p.get('schema', {}))}</td>"
        f"<td>{_text(p.get('description', ''))}</td></tr>"
        for p in parameters
    )
    return f"<h4>Parameters</h4><table>{rows}</table>"


def _responses(doc: dict[str, Any], responses: dict[str, Any]) -> str:
    rows = []
    for status, answer in responses.items():
        answer = _resolve(doc, answer)
        headers = ", ".join(f"<code>{escape(h)}</code>" for h in answer.get("headers", {}))
        rows.append(
            f"<tr><td>{escape(status)}</td><td>{_text(answer['description'])}"
            f"{' Headers: ' + headers if headers else ''}</td>"
            f"<td>{_content(answer.get('content', {}))}</td></tr>"
        )
    return f"<h4>Answers</h4><table>{''.join(rows)}</table>"


def _operation(doc: dict[str, Any], method: str, path: str, op: dict[str, Any]) -> str:
    schemes = doc.get("components", {}).get("securitySchemes", {})
    security = op.get("security", doc.get("security", []))
    who = " or ".join(
        " and ".join(schemes.get(name, {}).get("description", name) for name in option) or "none"
        for option in security
    )
    body = op.get("requestBody")
    request = f"<h4>Body</h4><p>{_content(body['content'])}</p>" if body else ""
    return (
        f"<h3>{method.upper()} {escape(path)}</h3><p><b>{escape(op.get('summary', ''))}</b> "
        f"{_text(op.get('description', ''))}</p><p>Key: {_text(who or 'none needed')}</p>"
        f"{_parameters(op.get('parameters', []))}{request}{_responses(doc, op['responses'])}"
    )


def render_docs(doc: dict[str, Any]) -> str:
    """The description as one self-contained HTML page."""
    info = doc["info"]
    operations = "".join(
        _operation(doc, method, path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
    )
    schemas = "".join(
        f'<h3 id="schema-{escape(name)}">{escape(name)}</h3>'
        f"<pre>{escape(json.dumps(schema, indent=2))}</pre>"
        for name, schema in doc.get("components", {}).get("schemas", {}).items()
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>'
        f"{escape(info['title'])} HTTP API</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(info['title'])} HTTP API</h1><p>{_text(info.get('description', ''))}</p>"
        f'<p>Machine-readable: <a href="openapi.json">openapi.json</a> (OpenAPI '
        f"{escape(doc['openapi'])}).</p><h2>Operations</h2>{operations}"
        f"<h2>Schemas</h2>{schemas}</body></html>"
    )


@cache
def _rendered() -> tuple[bytes, str]:
    return to_json(document()), render_docs(document())


async def openapi_json(request: Request) -> Response:
    return Response(_rendered()[0], media_type="application/json")


async def docs_page(request: Request) -> Response:
    return HTMLResponse(_rendered()[1])
