"""The proxies' I/O: one pooled HTTP client per provider, bodies streamed through untouched."""

from __future__ import annotations

import asyncio
import logging

import httpx
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, Response

from core.errors import BadRequestError
from core.settings import Config
from serve_app.api.streaming import StreamingResponse
from serve_app.proxy.rules import ProxyRoute, anthropic_route, openai_route, vertex_route

logger = logging.getLogger("aigw.proxy")

BAD_GATEWAY = {"detail": "Bad Gateway"}


def _base(url: str, default: str) -> str:
    base = (url or default).rstrip("/")
    if "://" not in base:
        base = f"https://{base}"
    return base.removesuffix("/v1")  # routes carry their own /v1


class ProviderProxy:
    """Held by the ingress replica; clients are created on first use and reused."""

    def __init__(self, settings: Config) -> None:
        self.settings = settings
        vertex = settings.vertex_text_model
        self.bases = {
            "anthropic": _base(settings.anthropic_base_url, "https://api.anthropic.com"),
            "openai": _base(settings.openai_base_url, "https://api.openai.com"),
            "vertex-ai": _base(vertex.endpoint, f"{vertex.location}-aiplatform.googleapis.com"),
        }
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._credentials: object | None = None
        self._lock = asyncio.Lock()
        timeouts = settings.model_timeouts
        self.timeout = httpx.Timeout(timeouts.total_s, connect=5.0)

    def route(self, provider: str, path: str, query: str, body: bytes) -> ProxyRoute:
        if provider == "anthropic":
            return anthropic_route(path, query, body)
        if provider == "openai":
            return openai_route(path, query, body)
        vertex = self.settings.vertex_text_model
        return vertex_route(path, query, vertex.project, vertex.location)

    async def _auth_headers(self, provider: str) -> dict[str, str]:
        if provider == "anthropic":
            key = self.settings.anthropic_api_key.get_secret_value()
            if not key:
                raise BadRequestError("API key not found")
            return {"x-api-key": key}
        if provider == "openai":
            key = self.settings.openai_api_key.get_secret_value()
            if not key:
                raise BadRequestError("API key not found")
            return {"authorization": f"Bearer {key}"}
        return {"authorization": f"Bearer {await self._google_token()}"}

    async def _google_token(self) -> str:
        from google.auth.transport.requests import Request as AuthRequest

        from deployments.backends.vertex import load_credentials

        async with self._lock:
            if self._credentials is None:
                try:
                    self._credentials = await asyncio.to_thread(
                        load_credentials, self.settings.vertex_backend()
                    )
                except Exception:
                    logger.warning("no Google credentials for the Vertex proxy")
                    raise BadRequestError("API key not found") from None
            creds = self._credentials
            if not creds.valid:  # type: ignore[attr-defined]
                await asyncio.to_thread(creds.refresh, AuthRequest())  # type: ignore[attr-defined]
            token: str = creds.token  # type: ignore[attr-defined]
        return token

    def _client(self, provider: str) -> httpx.AsyncClient:
        client = self._clients.get(provider)
        if client is None:
            client = httpx.AsyncClient(base_url=self.bases[provider], timeout=self.timeout)
            self._clients[provider] = client
        return client

    async def forward(self, route: ProxyRoute, headers: dict[str, str], body: bytes) -> Response:
        sent = {k: v for k, v in headers.items() if k in route.request_headers}
        sent.update(await self._auth_headers(route.provider))
        sent["accept-encoding"] = "identity"  # bytes pass through as they come
        client = self._client(route.provider)
        request = client.build_request("POST", route.upstream_path, headers=sent, content=body)
        try:
            upstream = await client.send(request, stream=True)
        except httpx.TransportError as exc:
            logger.warning("proxy %s transport failure: %s", route.provider, type(exc).__name__)
            return JSONResponse(BAD_GATEWAY, status_code=502)
        returned = {
            k: v for k, v in upstream.headers.items() if k.lower() in route.response_headers
        }
        return StreamingResponse(
            _passthrough(upstream, route.provider),
            status_code=upstream.status_code,
            headers=returned,
            background=BackgroundTask(upstream.aclose),
        )


async def _passthrough(upstream: httpx.Response, provider: str):  # type: ignore[no-untyped-def]
    try:
        async for piece in upstream.aiter_raw():
            yield piece
    except httpx.TransportError as exc:
        # Status and headers are gone already: end the body abnormally, and say so in the log.
        logger.error("proxy %s stream broke: %s", provider, type(exc).__name__)
        raise
