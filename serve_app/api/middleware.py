"""Pure-ASGI middleware (no BaseHTTPMiddleware: it costs a task per request on the hot path)."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import BadRequestError, GatewayError
from observability.middleware import ResponseHeaders
from serve_app.api.error_policy import error_response

Message = MutableMapping[str, Any]
RATE_LIMIT_HEADERS_STATE = "rate_limit_headers"  # admission's headers for the response

# Paths that never need a token (API.md §2.1), plus the docs when they are switched on.
AUTH_SKIP = frozenset(
    {
        "/monitoring/healthz",
        "/monitoring/ready",
        "/metrics",
        "/v1/models/definitions",
        "/prompt_directory_structure",
    }
)

# Who the caller says it is (API.md §2.2, §2.7). Auth, the feature-flag filter, logs and events
# each read them, some from a dict of headers and some from Starlette's `Headers`: two copies of
# one would let them disagree (auth checks the realm `self-managed`, the flag filter sees `saas`).
IDENTITY_HEADERS = {
    name.lower(): name
    for name in (
        "X-Gitlab-Realm",
        "X-Gitlab-Instance-Id",
        "X-Gitlab-Global-User-Id",
        "X-Gitlab-Authentication-Type",
    )
}


def single_valued(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """ASGI headers as a dict with lower-cased names, each keeping its first value (as
    Starlette's `request.headers.get` does); BadRequestError when an identity header repeats."""
    headers: dict[str, str] = {}
    for key, value in raw:
        name = key.decode("latin-1").lower()
        if name not in headers:
            headers[name] = value.decode("latin-1")
        elif name in IDENTITY_HEADERS:
            raise BadRequestError(f"Duplicate header '{IDENTITY_HEADERS[name]}'")
    return headers


def context_headers(echo_request_id: bool = True) -> ResponseHeaders:
    """`X-Request-ID` (the correlation id, echoed or minted), `X-Process-Time` and admission's
    `RateLimit-Policy` / `RateLimit` on every response head, each replacing a header of the
    same name (a proxied provider's own `x-request-id`). Under Ray Serve the replica already
    echoes or mints `X-Request-ID`, so `echo_request_id` is off there."""

    def add(scope: Scope, raw: list[tuple[bytes, bytes]], started: float) -> None:
        state = scope.get("state") or {}
        own: dict[bytes, bytes] = {}
        if echo_request_id:
            own[b"x-request-id"] = str(state.get("correlation_id", "")).encode("latin-1")
        own[b"x-process-time"] = f"{time.perf_counter() - started:.6f}".encode("latin-1")
        for name, value in state.get(RATE_LIMIT_HEADERS_STATE, {}).items():
            own[name.lower().encode("latin-1")] = value.encode("latin-1")
        if any(name in own for name, _ in raw):
            raw[:] = [(name, value) for name, value in raw if name not in own]
        raw.extend(own.items())

    return add


class AuthMiddleware:
    """Authenticates requests to real routes; unknown paths fall through to 404/405."""

    def __init__(
        self,
        app: ASGIApp,
        authenticate: Callable[[dict[str, str]], Awaitable[Any]],
        routes_of: Callable[[], list[Any]],
        skip: frozenset[str] = AUTH_SKIP,
    ) -> None:
        self.app = app
        self.authenticate = authenticate
        self.routes_of = routes_of
        self.skip = skip
        # Matching a path against every route cost a tenth of a request's CPU; the answer
        # depends only on method and path (bounded: paths with parameters are unbounded).
        self._route_exists = functools.lru_cache(maxsize=4096)(self._match)

    def _match(self, method: str, root_path: str, path: str) -> bool:
        scope = {"type": "http", "method": method, "root_path": root_path, "path": path}
        return any(route.matches(scope)[0] == Match.FULL for route in self.routes_of())

    def _needs_auth(self, scope: Scope) -> bool:
        path, root = scope["path"], scope.get("root_path", "")
        relative = (path[len(root) :] or "/") if root and path.startswith(root) else path
        if relative in self.skip:
            return False
        return bool(self._route_exists(scope.get("method", ""), root, path))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._needs_auth(scope):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            headers = single_valued(scope["headers"])  # before auth reads a single one of them
            identity = await self.authenticate(headers)
        except GatewayError as exc:
            # 400 for a repeated identity header, 401 with the contract's body, 500 with no keys
            await error_response(exc)(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["identity"] = identity
        state["auth_s"] = time.perf_counter() - started
        await self.app(scope, receive, send)
