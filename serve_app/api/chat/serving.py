"""`/v1/chat/{chat_invokable}` and `/v2/chat/agent` (API.md §1.6)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response

from core.errors import ModelError
from serve_app.api import admission, error_policy
from serve_app.api.body import LeanJsonRoute
from serve_app.api.chat.protocol import AgentRequest, ChatMetadata, ChatRequest, ChatResponse
from serve_app.api.context import (
    correlation_id_of,
    gateway_of,
    record_of,
    require,
    settings_of,
)
from serve_app.api.framing import ModelJSONResponse
from serve_app.api.openapi import MODEL, NDJSON, SSE, TEXT, answers
from serve_app.api.streaming import StreamingResponse
from serve_app.chat import agent, legacy
from serve_app.suggestions import started

router = APIRouter(route_class=LeanJsonRoute)


@router.post(
    "/v1/chat/{chat_invokable}",
    # error_policy.legacy_chat_error: the provider's failures are 502/504 here, not 503.
    responses=answers(ChatResponse, *MODEL, 404, 502, 504, streams={SSE: TEXT}),
)
async def chat_v1(
    request: Request, chat_invokable: str, payload: Annotated[ChatRequest, Body()]
) -> Response:
    """One chat completion of the caller's prompt; JSON, or raw text chunks when streamed."""
    primitive = legacy.unit_primitive_of(chat_invokable)
    require(request, primitive, f"Unauthorized to access {primitive}")
    gateway = gateway_of(request)
    agent.check_duo_core(
        settings_of(request), request.headers.get("x-gitlab-feature-enablement-type")
    )
    component = payload.prompt_components[0]
    call = legacy.model_request(
        gateway, component.payload, payload.stream, correlation_id_of(request)
    )
    ticket, call = await admission.admit(request, legacy.FEATURE, call)
    if payload.stream:
        body = await started(legacy.text_stream(gateway, call, ticket))
        return StreamingResponse(body, media_type="text/event-stream")
    try:
        async with ticket:
            result = await gateway.generate(call)
            ticket.observe(result.output_tokens)
    except ModelError as exc:
        raise error_policy.legacy_chat_error(exc) from None
    metadata = ChatMetadata(
        provider=component.payload.provider or "anthropic",
        model=gateway.served_target(call.target).name,
        timestamp=int(time.time()),
    )
    return ModelJSONResponse(ChatResponse(response=result.text, metadata=metadata))


@router.post(
    "/v2/chat/agent",
    response_class=Response,  # NDJSON only: no JSON answer to document
    responses=answers(None, *MODEL, 404, streams={NDJSON: TEXT}),
)
async def chat_agent(request: Request, payload: Annotated[AgentRequest, Body()]) -> Response:
    """One ReAct step of Duo Chat, as NDJSON events streamed while the model writes."""
    gateway = gateway_of(request)
    agent.check_duo_core(
        settings_of(request), request.headers.get("x-gitlab-feature-enablement-type")
    )
    call = await agent.prepare(
        gateway, request.state.identity, payload, correlation_id_of(request), record_of(request)
    )
    ticket, call = await admission.admit(request, legacy.FEATURE, call)
    lines = await agent.open_events(gateway, call, ticket)
    return StreamingResponse(lines, media_type=agent.NDJSON)
