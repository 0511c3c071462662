"""Liveness, readiness and the model catalogue (all unauthenticated)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from serve_app.api.context import gateway_of

router = APIRouter()


@router.get("/monitoring/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({})


@router.get("/monitoring/ready")
async def ready(request: Request) -> JSONResponse:
    """200 once every backend of the graph answers its probe, 503 until then."""
    checks = await gateway_of(request).readiness()
    ok = bool(checks) and all(checks.values())
    return JSONResponse({"backends": checks}, status_code=200 if ok else 503)


@router.get("/v1/models/definitions")
async def model_definitions(request: Request) -> JSONResponse:
    return JSONResponse(gateway_of(request).catalogue.definitions())
