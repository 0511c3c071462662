"""Pure-ASGI middleware (no BaseHTTPMiddleware: it costs a task per request on the hot path)."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import BadRequestError, GatewayError
from serve_app.api.error_policy import error_response

Message = MutableMapping[str, Any]

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


class RequestContextMiddleware:
    """Correlation id (`X-Request-ID`, echoed or minted) and `X-Process-Time` on every response."""

    def __init__(self, app: ASGIApp, echo_request_id: bool = True) -> None:
        self.app = app
        # Under Ray Serve the replica already echoes or mints `X-Request-ID` on the response.
        self.echo_request_id = echo_request_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        correlation_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                correlation_id = value.decode("latin-1")
                break
        correlation_id = correlation_id or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["correlation_id"] = correlation_id
        state["arrived_at"] = started

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if self.echo_request_id:
                    headers["X-Request-ID"] = correlation_id
                headers["X-Process-Time"] = f"{time.perf_counter() - started:.6f}"
                for name, value in state.get("rate_limit_headers", {}).items():
                    headers[name] = value  # admission's RateLimit-Policy / RateLimit
            await send(message)

        await self.app(scope, receive, send_with_headers)


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
