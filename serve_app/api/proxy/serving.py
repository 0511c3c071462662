"""`/v1/proxy/{anthropic|vertex-ai|openai}/{path}` (API.md §1.9)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from core.errors import AuthorizationError, BadRequestError, GatewayError
from serve_app.api.context import identity_of, proxy_of, settings_of
from serve_app.api.framing import ModelJSONResponse
from serve_app.api.openapi import answers, header
from serve_app.api.proxy.protocol import MockedProxyResponse
from serve_app.proxy.rules import UNIT_PRIMITIVES

router = APIRouter()


class NotAllowed(GatewayError):
    """402: this customer is not on the proxy allowlist."""

    status_code = 402


def _authorize(request: Request) -> None:
    unit_primitive = request.headers.get("x-gitlab-unit-primitive")
    if not unit_primitive:
        raise BadRequestError("Missing x-gitlab-unit-primitive header")
    if unit_primitive not in UNIT_PRIMITIVES:
        raise BadRequestError(f"Unknown unit primitive header {unit_primitive}")
    if not identity_of(request).can(unit_primitive):
        raise AuthorizationError(f"Unauthorized to access {unit_primitive}")
    allow = settings_of(request).proxy_endpoints
    realm = request.headers.get("x-gitlab-realm", identity_of(request).realm)
    if realm == "saas" and allow.saas_enabled:
        allowed = {x.strip() for x in allow.saas_enabled.split(",") if x.strip()}
        if request.headers.get("x-gitlab-root-namespace-id", "") not in allowed:
            raise NotAllowed("Proxy access is not enabled for this namespace")
    elif realm == "self-managed" and allow.self_managed_enabled:
        allowed = {x.strip() for x in allow.self_managed_enabled.split(",") if x.strip()}
        instance = identity_of(request).instance_uid or request.headers.get(
            "x-gitlab-instance-id", ""
        )
        if instance not in allowed:
            raise NotAllowed("Proxy access is not enabled for this instance")


# The provider's own answer comes back as it is, whatever its status: `default`.
PROXY = {
    **answers(MockedProxyResponse, 400, 401, 402, 403, 404, 422),
    "default": {"description": "The provider's answer, passed through"},
}
PROXY_HEADERS = {"parameters": [header("X-Gitlab-Unit-Primitive", enum=UNIT_PRIMITIVES)]}


async def _proxy(request: Request, provider: str, path: str) -> Response:
    _authorize(request)
    body = await request.body()
    proxy = proxy_of(request)
    route = proxy.route(provider, "/" + path.lstrip("/"), request.url.query, body)
    if settings_of(request).mock_model_responses:
        return ModelJSONResponse(MockedProxyResponse())
    headers = {k.lower(): v for k, v in request.headers.items()}
    response: Response = await proxy.forward(route, headers, body)
    return response


@router.post("/v1/proxy/anthropic/{path:path}", responses=PROXY, openapi_extra=PROXY_HEADERS)
async def anthropic_proxy(request: Request, path: str) -> Response:
    """Transparent proxy to Anthropic's Messages API."""
    return await _proxy(request, "anthropic", path)


@router.post("/v1/proxy/vertex-ai/{path:path}", responses=PROXY, openapi_extra=PROXY_HEADERS)
async def vertex_proxy(request: Request, path: str) -> Response:
    """Transparent proxy to Vertex AI publisher models."""
    return await _proxy(request, "vertex-ai", path)


@router.post("/v1/proxy/openai/{path:path}", responses=PROXY, openapi_extra=PROXY_HEADERS)
async def openai_proxy(request: Request, path: str) -> Response:
    """Transparent proxy to OpenAI."""
    return await _proxy(request, "openai", path)
