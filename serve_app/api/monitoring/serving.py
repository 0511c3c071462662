"""Liveness, readiness and the model catalogue (all unauthenticated)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from serve_app.api.context import gateway_of
from serve_app.api.framing import ModelJSONResponse
from serve_app.api.monitoring.protocol import (
    HealthResponse,
    ModelDefinitionsResponse,
    ReadinessResponse,
)
from serve_app.api.openapi import answers

router = APIRouter()


@router.get("/monitoring/healthz", responses=answers(HealthResponse))
async def healthz() -> Response:
    return ModelJSONResponse(HealthResponse())


@router.get(
    "/monitoring/ready",
    responses={
        **answers(ReadinessResponse),
        503: {"model": ReadinessResponse, "description": "A backend does not answer yet"},
    },
)
async def ready(request: Request) -> Response:
    """200 once every backend of the graph answers its probe, 503 until then."""
    checks = await gateway_of(request).readiness()
    ok = bool(checks) and all(checks.values())
    return ModelJSONResponse(ReadinessResponse(backends=checks), status_code=200 if ok else 503)


@router.get("/v1/models/definitions", responses=answers(ModelDefinitionsResponse))
async def model_definitions(request: Request) -> Response:
    definitions = gateway_of(request).model_definitions()
    return ModelJSONResponse(ModelDefinitionsResponse.model_validate(definitions))
