"""What the OpenAPI document says each route answers. Declarations only: the bodies on the wire
are written by the handlers and `error_policy`, and nothing here runs per request. A
schemathesis run (tests/unit/test_openapi_conformance.py) holds the two together.

Every error body is one of `error_policy`'s models: `{"detail": str}`, 401's `{"error": str}`,
and 422's `{"detail": str, "errors": [...]}` (a request that fails pydantic's validation) or
plain `{"detail": str}` (one a handler refuses, e.g. a custom model that is switched off)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute

from serve_app.api.error_policy import AuthenticationFailure, ErrorDetail, ValidationFailure

Responses = dict[int | str, dict[str, Any]]

SSE = "text/event-stream"  # v4's SSE, and the raw text chunks of every other stream
NDJSON = "application/x-ndjson"
TEXT: dict[str, Any] = {}  # a raw text or NDJSON body, not described further
_COMPONENTS = "#/components/schemas/"
# Models only a stream's events name: `install` adds them to the document's components.
_EVENT_MODELS: set[type[BaseModel]] = set()

_ERRORS: dict[int, tuple[type[BaseModel], str]] = {
    400: (ErrorDetail, "A body that is not JSON, a missing or repeated header"),
    401: (AuthenticationFailure, "No token, or one that is not valid"),
    402: (ErrorDetail, "Not on the proxy allowlist"),
    403: (ErrorDetail, "The token does not grant this feature"),
    404: (ErrorDetail, "No such prompt, chat action or proxied path"),
    421: (ErrorDetail, 'The model answered an error status: "<code>: <reason>"'),
    422: (ValidationFailure, "The body breaks the request schema, or asks for what is off"),
    429: (ErrorDetail, "The model provider is rate limiting: retry after `Retry-After`"),
    502: (ErrorDetail, "The model provider failed or could not be reached"),
    503: (ErrorDetail, "No model could answer (`Inference failed`)"),
    504: (ErrorDetail, "The model provider timed out"),
}
# Whatever a route that calls a model may answer besides its own errors (error_policy).
MODEL = (400, 401, 403, 422, 429, 503)


def answers(
    ok: type[BaseModel] | None,
    *statuses: int,
    streams: Mapping[str, dict[str, Any]] | None = None,
) -> Responses:
    """`responses=` of a route: `ok` as the JSON 200 (None: no JSON answer at all; the route
    then sets `response_class=Response` so that FastAPI adds no JSON of its own), the
    `streams` it may answer instead (media type -> schema), then `statuses` from the error
    table. `model` here rather than `response_model`: the document shows it, and nothing
    validates the body again on every request."""
    content = {media: {"schema": schema} for media, schema in (streams or {}).items()}
    success: dict[str, Any] = {"content": content}
    if ok is not None:
        success["model"] = ok
    out: Responses = {200: success}
    for status in statuses:
        model, description = _ERRORS[status]
        out[status] = {"model": model, "description": description}
    return out


def sse_events(events: Mapping[str, type[BaseModel] | None]) -> dict[str, Any]:
    """The schema of one SSE event of a stream whose events are `events` (name -> the model
    of its JSON `data`; None: `data: null`), as schemathesis reads an SSE body."""
    kinds = []
    for name, model in events.items():
        if model is not None:
            _EVENT_MODELS.add(model)
        data = {"$ref": _COMPONENTS + model.__name__} if model else {"type": "null"}
        kinds.append(
            {
                "properties": {
                    "event": {"const": name},
                    "data": {"contentMediaType": "application/json", "contentSchema": data},
                }
            }
        )
    return {"type": "object", "required": ["event", "data"], "oneOf": kinds}


def header(name: str, *, enum: Iterable[str] = ()) -> dict[str, Any]:
    """A required request header the handler reads itself (400 when it is missing), documented
    through `openapi_extra` so that FastAPI does not validate it into a 422."""
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if enum:
        schema = {"type": "string", "enum": sorted(enum)}
    return {"name": name, "in": "header", "required": True, "schema": schema}


# Request bodies are read in pydantic's lax mode, as upstream reads them: a boolean may also be
# sent as 0 or 1, an integer as a boolean. pydantic writes the strict types; the document says
# what is accepted. (Lax mode takes some strings too, "yes" or " 7 ": left out, as no client
# sends them and no pattern says exactly which.)
_LAX = {"boolean": [{"type": "boolean"}, {"enum": [0, 1]}]}


def _widen(node: Any) -> None:
    """Widen every unbounded boolean and integer under `node` in place (a bounded integer keeps
    its strict type: a numeric string out of range is refused, which no pattern can say)."""
    if isinstance(node, list):
        for item in node:
            _widen(item)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "boolean":
        node.pop("type")
        node["anyOf"] = copy.deepcopy(_LAX["boolean"])
        return
    if kind == "integer" and not {"minimum", "maximum", "exclusiveMinimum"} & node.keys():
        node.pop("type")
        node["anyOf"] = [{"type": "integer"}, {"type": "boolean"}]
        return
    for value in node.values():
        _widen(value)


def _request_components(schema: dict[str, Any]) -> set[str]:
    """Names of the component schemas a request body reaches."""
    components = schema.get("components", {}).get("schemas", {})
    found: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
        elif isinstance(node, dict):
            ref = node.get("$ref", "")
            name = ref.rsplit("/", 1)[-1]
            if ref.startswith("#/components/schemas/") and name not in found:
                found.add(name)
                visit(components.get(name))
            for value in node.values():
                visit(value)

    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            visit(operation.get("requestBody"))
    return found


def install(
    app: FastAPI,
    *,
    auth_enforced: bool,
    public: Iterable[str],
    routes: Sequence[BaseRoute] | None = None,
) -> None:
    """The app's document: what pydantic and `responses=` say, request bodies as lax as they are
    read, and, when the gateway checks tokens (not with `AIGW_AUTH__BYPASS_EXTERNAL`), a bearer
    JWT on every route but the `public` ones (API.md §2.1). `routes`: the documented routes in
    the document's order (the app's own order is the order they are matched in); default the
    app's."""
    public = frozenset(public)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes if routes is None else routes,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            _, defs = models_json_schema(
                [(model, "serialization") for model in _EVENT_MODELS],
                ref_template=_COMPONENTS + "{model}",
            )
            for name, definition in defs.get("$defs", {}).items():
                components.setdefault(name, definition)
            for name in _request_components(schema):
                _widen(components.get(name))
            if auth_enforced:
                schema.setdefault("components", {})["securitySchemes"] = {
                    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                }
                for path, operations in schema.get("paths", {}).items():
                    for operation in operations.values():
                        operation["security"] = [] if path in public else [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
