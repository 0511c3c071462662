"""`/v1/prompts/{prompt_id}`, `/v2/prompts/{prompt_id}` (API.md §1.7) and
`GET /prompt_directory_structure` (§5.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response

from core.errors import ModelError
from core.types import ModelRequest, ModelTarget
from deployments.registry_prompts import feature_of
from routing.admission import NO_LIMITS, Ticket
from routing.admission.streams import metered
from serve_app.api import admission, error_policy
from serve_app.api.body import LeanJsonRoute
from serve_app.api.context import correlation_id_of, gateway_of, identity_of, record_of
from serve_app.api.framing import ModelJSONResponse, ndjson_line
from serve_app.api.openapi import MODEL, SSE, TEXT, answers
from serve_app.api.prompts.protocol import (
    PromptDirectoryStructure,
    PromptRequest,
    PromptResponse,
    PromptTextResponse,
    TokenCounts,
)
from serve_app.api.streaming import StreamingResponse
from serve_app.chat import prompts
from serve_app.gateway import Gateway
from serve_app.suggestions import started

router = APIRouter(route_class=LeanJsonRoute)


async def _prepare(request: Request, prompt_id: str, payload: PromptRequest) -> ModelRequest:
    assembled = await prompts.prepare(
        gateway_of(request),
        identity_of(request),
        prompt_id,
        version=payload.prompt_version,
        inputs=payload.inputs,
        metadata=payload.model_metadata,
        stream=payload.stream,
        correlation_id=correlation_id_of(request),
        record=record_of(request),
    )
    return assembled.request


async def _pieces(
    gateway: Gateway, call: ModelRequest, v2: bool, ticket: Ticket = NO_LIMITS
) -> AsyncIterator[str]:
    """Raw text (v1) or one `PromptResponse` a line (v2; a last `{"content": "", "usage"}`
    line only when the model reported token counts, as the non-streamed body omits usage)."""
    chunks = metered(ticket, gateway.stream(call))
    input_tokens = output_tokens = 0
    try:
        async for chunk in chunks:
            input_tokens = chunk.input_tokens or input_tokens
            output_tokens = chunk.output_tokens or output_tokens
            if chunk.text:
                yield ndjson_line(PromptResponse(content=chunk.text)) if v2 else chunk.text
        served = gateway.served_target(call.target)
        usage = _usage(served, input_tokens, output_tokens) if v2 else None
        if usage:
            yield ndjson_line(PromptResponse(content="", usage=usage))
    except ModelError as exc:
        raise error_policy.prompts_error(exc) from None
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]


def _usage(
    target: ModelTarget, input_tokens: int, output_tokens: int
) -> dict[str, TokenCounts] | None:
    """Token counts by model, or None when the model reported none."""
    if not (input_tokens or output_tokens):
        return None
    model = target.identifier or target.name
    return {model: TokenCounts(input_tokens=input_tokens, output_tokens=output_tokens)}


async def _invoke(request: Request, prompt_id: str, payload: PromptRequest, v2: bool) -> Response:
    gateway = gateway_of(request)
    call = await _prepare(request, prompt_id, payload)
    ticket, call = await admission.admit(request, feature_of(prompt_id), call)
    if payload.stream:
        body = await started(_pieces(gateway, call, v2, ticket))
        return StreamingResponse(body, media_type="text/event-stream")
    try:
        async with ticket:
            result = await gateway.generate(call)
            ticket.observe(result.output_tokens)
    except ModelError as exc:
        raise error_policy.prompts_error(exc) from None
    if not v2:
        return ModelJSONResponse(PromptTextResponse(result.text))
    usage = _usage(gateway.served_target(call.target), result.input_tokens, result.output_tokens)
    return ModelJSONResponse(PromptResponse(content=result.text, usage=usage))


# error_policy.prompts_error: a provider's error status is a 421. Both versions stream as
# text/event-stream (v2's lines are NDJSON, under that media type).
@router.post(
    "/v1/prompts/{prompt_id:path}",
    responses=answers(PromptTextResponse, *MODEL, 404, 421, streams={SSE: TEXT}),
)
async def invoke_v1(
    request: Request, prompt_id: str, payload: Annotated[PromptRequest, Body()]
) -> Response:
    """Render a registry prompt and answer the model's text (a JSON string, or raw chunks)."""
    return await _invoke(request, prompt_id, payload, v2=False)


@router.post(
    "/v2/prompts/{prompt_id:path}",
    responses=answers(PromptResponse, *MODEL, 404, 421, streams={SSE: TEXT}),
)
async def invoke_v2(
    request: Request, prompt_id: str, payload: Annotated[PromptRequest, Body()]
) -> Response:
    """Like v1, answered as `{"content", "usage"}` or one JSON object per line."""
    return await _invoke(request, prompt_id, payload, v2=True)


@router.get("/prompt_directory_structure", responses=answers(PromptDirectoryStructure))
async def directory_structure(request: Request) -> Response:
    """The loaded definitions: every prompt's families and versions."""
    tree = await gateway_of(request).prompt_directory()
    return ModelJSONResponse(PromptDirectoryStructure(tree))
