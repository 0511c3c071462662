"""`/v1/amazon_q/*` (API.md §1.1): the Amazon Q integration's plumbing routes, out of scope for
this gateway until a customer needs them (README). They exist so that a client gets the
contract's answers rather than a 404: a caller without `amazon_q_integration` gets the route's
403, any other the 503 an unconfigured provider gets everywhere else."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from core.errors import ModelUnavailable
from serve_app.api.context import require
from serve_app.api.openapi import answers

router = APIRouter()

UNAUTHORIZED = "Unauthorized to perform action"
PATHS = (
    "/v1/amazon_q/oauth/application",
    "/v1/amazon_q/oauth/application/delete",
    "/v1/amazon_q/oauth/application/verify",
    "/v1/amazon_q/events",
)


async def not_available(request: Request) -> Response:
    """Amazon Q is not available on this gateway: 503 after the unit primitive check."""
    require(request, "amazon_q_integration", UNAUTHORIZED)
    raise ModelUnavailable("Amazon Q is not available on this gateway")


for _path in PATHS:
    router.add_api_route(
        _path,
        not_available,
        methods=["POST"],
        response_class=Response,
        responses=answers(None, 401, 403, 503),
        name=_path.removeprefix("/v1/").replace("/", "_"),
    )
