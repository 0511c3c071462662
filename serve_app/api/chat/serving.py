"""`/v1/chat/{chat_invokable}` and `/v2/chat/agent` (API.md §1.6)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, StreamingResponse

from core.errors import ModelError
from serve_app.api.chat.protocol import AgentRequest, ChatRequest
from serve_app.api.context import gateway_of, registry_of, require
from serve_app.chat import agent, legacy
from serve_app.suggestions import started

router = APIRouter()


def _correlation_id(request: Request) -> str:
    return str(getattr(request.state, "correlation_id", ""))


@router.post("/v1/chat/{chat_invokable}")
async def chat_v1(
    request: Request, chat_invokable: str, payload: Annotated[ChatRequest, Body()]
) -> Any:
    """One chat completion of the caller's prompt; JSON, or raw text chunks when streamed."""
    primitive = legacy.unit_primitive_of(chat_invokable)
    require(request, primitive, f"Unauthorized to access {primitive}")
    gateway = gateway_of(request)
    agent.check_duo_core(gateway, request.headers.get("x-gitlab-feature-enablement-type"))
    component = payload.prompt_components[0]
    call = legacy.model_request(
        gateway, component.payload, payload.stream, _correlation_id(request)
    )
    if payload.stream:
        body = await started(legacy.text_stream(gateway, call))
        return StreamingResponse(body, media_type="text/event-stream")
    try:
        result = await gateway.generate(call)
    except ModelError as exc:
        raise legacy.upstream_error(exc) from None
    return JSONResponse(legacy.response_body(component.payload, call, result.text))


@router.post("/v2/chat/agent")
async def chat_agent(request: Request, payload: Annotated[AgentRequest, Body()]) -> Any:
    """One ReAct step of Duo Chat, as NDJSON events streamed while the model writes."""
    gateway = gateway_of(request)
    agent.check_duo_core(gateway, request.headers.get("x-gitlab-feature-enablement-type"))
    call = agent.prepare(
        gateway,
        registry_of(request),
        request.state.identity,
        payload,
        _correlation_id(request),
    )
    return StreamingResponse(agent.events(gateway, call), media_type=agent.NDJSON)
