"""What the OpenAPI document says each route answers. Declarations only: the bodies on the wire
are written by the handlers and `error_policy`, and nothing here runs per request. A
schemathesis run (tests/unit/test_openapi_conformance.py) holds the two together.

Every error body is one of `error_policy`'s models: `{"detail": str}`, 401's `{"error": str}`,
and 422's `{"detail": str, "errors": [...]}` (a request that fails pydantic's validation) or
plain `{"detail": str}` (one a handler refuses, e.g. a custom model that is switched off)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from serve_app.api.error_policy import AuthenticationFailure, ErrorDetail, ValidationFailure

Responses = dict[int | str, dict[str, Any]]

SSE = "text/event-stream"  # v4's SSE, and the raw text chunks of every other stream
NDJSON = "application/x-ndjson"
_TEXT = {"schema": {"type": "string"}}

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
    ok: type[BaseModel] | None, *statuses: int, streams: Iterable[str] = ()
) -> Responses:
    """`responses=` of a route: `ok` as the JSON 200 (None: no JSON answer at all, see
    `streamed_only`), the `streams` media types it may answer instead, then `statuses` from the
    error table."""
    success: dict[str, Any] = {"content": {media: _TEXT for media in streams}}
    if ok is not None:
        success["model"] = ok
    out: Responses = {200: success}
    for status in statuses:
        model, description = _ERRORS[status]
        out[status] = {"model": model, "description": description}
    return out


def header(name: str, *, enum: Iterable[str] = ()) -> dict[str, Any]:
    """A required request header the handler reads itself (400 when it is missing), documented
    through `openapi_extra` so that FastAPI does not validate it into a 422."""
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if enum:
        schema = {"type": "string", "enum": sorted(enum)}
    return {"name": name, "in": "header", "required": True, "schema": schema}


def describe_auth(app: FastAPI, public: Iterable[str]) -> None:
    """Every route but the `public` ones takes a bearer JWT (API.md §2.1): the document says so
    only when the gateway checks it (not with `AIGW_AUTH__BYPASS_EXTERNAL`)."""
    public = frozenset(public)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
            for path, operations in schema.get("paths", {}).items():
                for operation in operations.values():
                    operation["security"] = [] if path in public else [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
