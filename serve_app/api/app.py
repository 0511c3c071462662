"""The FastAPI app factory: the contract's routes over a Gateway."""

from __future__ import annotations

from fastapi import FastAPI

from core.settings import ApiSettings
from observability.middleware import ObservabilityMiddleware
from observability.retrieval_metrics import RetrievalMetrics
from observability.telemetry import Telemetry
from serve_app.api import error_policy, openapi
from serve_app.api.amazon_q import serving as amazon_q
from serve_app.api.body import BigBodies
from serve_app.api.body_guard import BodyGuardMiddleware
from serve_app.api.chat import serving as chat
from serve_app.api.code_v2 import serving as code_v2
from serve_app.api.code_v3 import serving as code_v3
from serve_app.api.cors import LeanCORSMiddleware
from serve_app.api.embeddings import serving as embeddings
from serve_app.api.middleware import (
    AUTH_SKIP,
    AuthMiddleware,
    context_headers,
)
from serve_app.api.monitoring import serving as monitoring
from serve_app.api.prompts import serving as prompts
from serve_app.api.proxy import serving as proxies
from serve_app.api.routes import add_routes
from serve_app.api.search import serving as search
from serve_app.api.user_access_token import serving as user_access_token
from serve_app.gateway import Gateway
from serve_app.proxy.forwarder import ProviderProxy
from serve_app.services import Services


def create_app(
    gateway: Gateway,
    settings: ApiSettings,
    proxy: ProviderProxy,
    *,
    telemetry: Telemetry,
    under_serve: bool = False,
    services: Services | None = None,
) -> FastAPI:
    """The contract's routes over `gateway`. Everything a handler reads comes in here, built
    once by the caller: `settings` (`Config.api()`), the proxies' `proxy`, `telemetry`."""
    docs = (settings.docs_url, settings.openapi_url, settings.redoc_url)
    app = FastAPI(
        title="aigw-serve",
        description="GitLab-compatible AI gateway on Ray Serve",
        docs_url=settings.docs_url,
        openapi_url=settings.openapi_url,
        redoc_url=settings.redoc_url,
        # Upstream's FastAPI reads a JSON body whatever its Content-Type says; 0.165 would not.
        strict_content_type=False,
        # FastAPI 0.165's native OpenTelemetry asks the global tracer, meter and logger
        # providers on every request whether one is configured (~2.7 us); the gateway
        # configures none (its metrics are Ray's, its logs structlog's), so it is off.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.gateway = gateway
    app.state.api_settings = settings
    app.state.proxy = proxy
    app.state.services = services or Services()  # docs search, embeddings (None: 503)
    app.state.retrieval_metrics = RetrievalMetrics(telemetry.metrics.factory)
    app.state.big_bodies = BigBodies(settings.big_body_parses)
    routers = (  # in the document's order
        monitoring.router,
        code_v2.router,
        code_v3.router,
        proxies.router,
        user_access_token.router,
        chat.router,
        prompts.router,
        search.router,
        embeddings.router,
        amazon_q.router,
    )
    # The app's own routes, not included routers: a request is matched once (routes.py). The
    # completion routes are matched first: each route tried before the one that matches costs
    # a request ~10k instructions (issue 18). The document keeps its order.
    hot = (code_v2.router, code_v3.router)
    added = {id(r): add_routes(app, r) for r in sorted(routers, key=lambda r: r not in hot)}
    error_policy.install(app, verbose_validation=settings.verbose_validation_errors)

    skip = AUTH_SKIP | {url for url in docs if url}
    openapi.install(
        app,
        auth_enforced=settings.auth_enforced,
        public=skip,
        routes=[route for router in routers for route in added[id(router)]],
    )
    # Starlette wraps in reverse order: observability (with the context headers), body guard
    # (size and time), CORS, then auth.
    app.add_middleware(
        AuthMiddleware,
        authenticate=gateway.authenticate,
        routes_of=lambda: app.router.routes,
        skip=frozenset(skip),
    )
    app.add_middleware(
        LeanCORSMiddleware, allow_origins=["*"], allow_methods=["POST"], allow_headers=["*"]
    )
    app.add_middleware(
        BodyGuardMiddleware,
        max_bytes=settings.max_body_bytes,
        timeout_s=settings.body_read_timeout_s or 0.0,
    )
    app.add_middleware(  # outermost: sees it all
        ObservabilityMiddleware,
        telemetry=telemetry,
        response_headers=context_headers(echo_request_id=not under_serve),
    )
    return app
