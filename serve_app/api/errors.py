"""Maps the gateway's error types, and FastAPI's validation errors, to the contract's bodies."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from core.errors import AuthenticationError, GatewayError, ModelError, ModelRateLimited

logger = logging.getLogger("aigw.errors")

TOO_MANY_REQUESTS = "Too many requests. Please try again later."
INFERENCE_FAILED = "Inference failed"


def error_response(exc: GatewayError, correlation_id: str = "") -> JSONResponse:
    if isinstance(exc, AuthenticationError):
        return JSONResponse({"error": exc.message}, status_code=401)
    if isinstance(exc, ModelRateLimited):
        headers = {"Retry-After": exc.retry_after} if exc.retry_after else None
        return JSONResponse({"detail": TOO_MANY_REQUESTS}, status_code=429, headers=headers)
    if isinstance(exc, ModelError):
        logger.error("model error: %s", exc.message, extra={"correlation_id": correlation_id})
        return JSONResponse({"detail": INFERENCE_FAILED}, status_code=503)
    return JSONResponse({"detail": exc.message}, status_code=exc.status_code)


def _safe_errors(errors: Any) -> list[dict[str, Any]]:
    """Where and why, never the offending input (it may be a customer's code)."""
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in errors
    ]


def install_error_handlers(app: FastAPI, verbose_validation: bool) -> None:
    async def on_gateway_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GatewayError)
        return error_response(exc, getattr(request.state, "correlation_id", ""))

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = _safe_errors(exc.errors())
        detail = str(errors) if verbose_validation else "Validation error"
        return JSONResponse({"detail": detail, "errors": errors}, status_code=422)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception(
            "unhandled error",
            extra={"correlation_id": getattr(request.state, "correlation_id", "")},
        )
        return JSONResponse({"detail": "Internal server error"}, status_code=500)

    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)
