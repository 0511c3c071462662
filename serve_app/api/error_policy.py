"""How an error reaches the client, decided here once per endpoint family (DESIGN.md rule 9:
errors are types, mapped once, at the ingress).

- default (every route, and the auth middleware; API.md §1.2): an error type's status and body.
- legacy chat (`/v1/chat/{invokable}`, §1.6) and prompts (`/v1|v2/prompts`, §1.7) answer a
  provider failure with their own contract error, which the default then maps.
- v4 SSE (§1.4) and chat agent NDJSON (§1.6) streams report a failure in a frame of their own.
- v2/v3 raw-text streams (§1.3) have no such frame: logged, then the response is aborted.
- request validation: 422 with where and why; anything unexpected: 500.

Each family logs under the logger it always has: log queries filter on them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.responses import Response

from core.errors import (
    AdmissionRefusal,
    AuthenticationError,
    BadGatewayError,
    GatewayError,
    GatewayTimeoutError,
    ModelError,
    ModelRateLimited,
    ModelStatusError,
    ModelTimeout,
    ModelUnavailable,
)
from deployments.chat import react
from serve_app.api.context import correlation_id_of
from serve_app.api.framing import ModelJSONResponse, sse_event

logger = logging.getLogger("aigw.errors")
code_logger = logging.getLogger("aigw.code")
suggestions_logger = logging.getLogger("aigw.suggestions")
chat_logger = logging.getLogger("aigw.chat")

TOO_MANY_REQUESTS = "Too many requests. Please try again later."
INFERENCE_FAILED = "Inference failed"
VALIDATION_ERROR = "Validation error"
INTERNAL_ERROR = "Internal server error"
ANTHROPIC_STATUS_ERROR = "Anthropic API Status Error."
ANTHROPIC_TIMEOUT_ERROR = "Anthropic API Timeout Error."
ANTHROPIC_CONNECTION_ERROR = "Anthropic API Connection Error."


class ErrorDetail(BaseModel):
    detail: str


class AuthenticationFailure(BaseModel):
    """401's body: the key is `error`, not `detail` (API.md §2.4)."""

    error: str


class ValidationIssue(BaseModel):
    """Where and why, never the offending input (it may be a customer's code)."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationFailure(BaseModel):
    """422. `errors` comes with a body that fails the request schema; a handler's own 422
    (`UnprocessableError`) is `ErrorDetail`, which this shape also describes."""

    detail: str
    errors: list[ValidationIssue] = []


class StreamError(BaseModel):
    """`data` of a v4 stream's `error` event."""

    message: str
    retryable: bool


# Default -------------------------------------------------------------------------------------


def error_response(exc: GatewayError, correlation_id: str = "") -> Response:
    """401 `{"error"}`; a provider's 429 as 429 with its `Retry-After`; any other model failure
    503 `Inference failed` (the provider's words stay in the log); every other error its own
    status and `{"detail": message}`."""
    if isinstance(exc, AuthenticationError):
        return ModelJSONResponse(AuthenticationFailure(error=exc.message), 401)
    if isinstance(exc, ModelRateLimited):
        headers = {"Retry-After": exc.retry_after} if exc.retry_after else None
        return ModelJSONResponse(ErrorDetail(detail=TOO_MANY_REQUESTS), 429, headers)
    if isinstance(exc, AdmissionRefusal):  # our own admission control
        headers = {**exc.headers, "Retry-After": str(exc.retry_after)}
        return ModelJSONResponse(ErrorDetail(detail=exc.message), exc.status_code, headers)
    if isinstance(exc, ModelError):
        logger.error("model error: %s", exc.message, extra={"correlation_id": correlation_id})
        return ModelJSONResponse(ErrorDetail(detail=INFERENCE_FAILED), 503)
    return ModelJSONResponse(ErrorDetail(detail=exc.message), exc.status_code)


def validation_response(errors: Sequence[Mapping[str, Any]], verbose: bool) -> Response:
    """422. The detail lists the issues only when request logging is allowed."""
    issues = [
        ValidationIssue(loc=list(e.get("loc", ())), msg=e.get("msg", ""), type=e.get("type", ""))
        for e in errors
    ]
    detail = str([issue.model_dump() for issue in issues]) if verbose else VALIDATION_ERROR
    return ModelJSONResponse(ValidationFailure(detail=detail, errors=issues), 422)


def install(app: FastAPI, verbose_validation: bool) -> None:
    """The default policy for every route; families that differ convert before it runs."""

    async def on_gateway_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)
        return error_response(exc, correlation_id_of(request))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return validation_response(exc.errors(), verbose_validation)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error", extra={"correlation_id": correlation_id_of(request)})
        return ModelJSONResponse(ErrorDetail(detail=INTERNAL_ERROR), 500)

    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)


# Families whose model failures are their own contract errors ---------------------------------


def legacy_chat_error(exc: ModelError) -> GatewayError:
    """`/v1/chat`: the Anthropic client's texts, 504 for a timeout, 502 for an error status or
    no connection; a rate limit stays the 429 every endpoint answers."""
    if isinstance(exc, ModelRateLimited):
        return exc
    if isinstance(exc, ModelTimeout):
        return GatewayTimeoutError(ANTHROPIC_TIMEOUT_ERROR)
    if exc.upstream_status:
        return BadGatewayError(ANTHROPIC_STATUS_ERROR)
    return BadGatewayError(ANTHROPIC_CONNECTION_ERROR)


def prompts_error(exc: ModelError) -> GatewayError:
    """`/v1|v2/prompts`: a provider that answered an HTTP status (429 included) is a 421
    `"<code>: <reason>"`, "the model failed, not the gateway"; otherwise the default's 503."""
    return ModelStatusError.of(exc.upstream_status) if exc.upstream_status else exc


# Streams: what a failure after the first byte becomes ---------------------------------------


def _reason(exc: Exception) -> str:
    """What a log line may say of a failure: our message, or only the type of anything else."""
    return exc.message if isinstance(exc, GatewayError) else type(exc).__name__


def sse_error_frame(exc: Exception, correlation_id: str) -> str:
    """A v4 stream that breaks, whatever broke it: an `error` event, never a clean
    `stream_end`."""
    code_logger.error("stream failed: %s", _reason(exc), extra={"correlation_id": correlation_id})
    return sse_event("error", StreamError(message=INFERENCE_FAILED, retryable=True))


def retryable(exc: BaseException) -> bool:
    """Worth retrying: rate limits, timeouts, no backend, and provider 5xx."""
    if isinstance(exc, ModelRateLimited | ModelTimeout | ModelUnavailable):
        return True
    return isinstance(exc, ModelError) and (exc.upstream_status or 0) >= 500


def ndjson_error_event(exc: Exception) -> react.AgentEvent:
    """The chat agent's stream: any failure is an `error` event with our error's message (the
    status has gone out already)."""
    chat_logger.warning("chat agent stream failed: %s", type(exc).__name__)
    message = exc.message if isinstance(exc, GatewayError) else ""
    return react.error(message or INFERENCE_FAILED, retryable(exc))


async def raw_text(pieces: AsyncIterator[str], correlation_id: str) -> AsyncIterator[str]:
    """A raw-text stream (v2, v3): a failure mid-way is logged, then aborts the response, so
    the client sees a broken body rather than a clean end (there is no error frame to send)."""
    try:
        async for piece in pieces:
            yield piece
    except Exception as exc:
        suggestions_logger.error(
            "stream failed mid-way: %s", _reason(exc), extra={"correlation_id": correlation_id}
        )
        raise
