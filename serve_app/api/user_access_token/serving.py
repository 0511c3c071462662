"""`POST /v1/code/user_access_token` (API.md §1.5): a short-lived gateway-signed token that lets
an IDE call the gateway directly for completions."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from deployments.authn.minting import grant_for
from serve_app.api.context import gateway_of, identity_of, settings_of
from serve_app.api.framing import ModelJSONResponse
from serve_app.api.openapi import answers, header
from serve_app.api.user_access_token.protocol import UserAccessTokenResponse

router = APIRouter()


@router.post(
    "/v1/code/user_access_token",
    responses=answers(UserAccessTokenResponse, 400, 401, 403),
    # Realm and instance id may come from the token instead; the user id never does.
    openapi_extra={
        "parameters": [
            header("X-Gitlab-Global-User-Id"),
            header("X-Gitlab-Realm"),
            header("X-Gitlab-Instance-Id"),
        ]
    },
)
async def user_access_token(request: Request) -> Response:
    """No body; identity from the caller's validated JWT. 403 for callers without
    `complete_code` or holding a token this gateway minted itself."""
    gateway = gateway_of(request)
    headers = {name.lower(): value for name, value in request.headers.items()}
    service = settings_of(request).cloud_connector_service_name
    grant = grant_for(identity_of(request), headers, service)
    minted = await gateway.mint(grant)
    return ModelJSONResponse(
        UserAccessTokenResponse(token=minted.token, expires_at=minted.expires_at)
    )
