"""The `/v2/chat/agent` ReAct step: request checks, prompt `chat/react`, and the NDJSON events
parsed from the model's text as it streams (API.md §1.6)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from core.errors import AuthorizationError, BadRequestError
from core.settings import ApiSettings
from core.types import Chunk, Identity, Message, ModelRequest, ToolCall
from deployments.chat import react
from deployments.registry_prompts import today
from deployments.tool_calls import ToolCallAssembler
from observability.record import RequestRecord
from routing.admission import NO_LIMITS, Ticket
from routing.admission.streams import metered
from serve_app.api import error_policy
from serve_app.api.chat.protocol import AgentMessage, AgentRequest
from serve_app.chat import prompts
from serve_app.first_content import until_first_content
from serve_app.gateway import Gateway

REACT_PROMPT = "chat/react"
UNAUTHORIZED_CHAT = "Unauthorized to access duo chat"
SCRATCHPAD_NOT_ASSISTANT = "agent_scratchpad can only be set on assistant messages"
DUO_CORE_CUTOFF = "Duo Core no longer authorized to access Duo Classic Chat"
NDJSON = "application/x-ndjson; charset=utf-8"


def check_duo_core(settings: ApiSettings, enablement_type: str | None) -> None:
    """LATEST: Duo Core seats lose Duo Classic Chat once the process-level flag is on."""
    if settings.duo_core_chat_cutoff and (enablement_type or "").strip().lower() == "duo_core":
        raise AuthorizationError(DUO_CORE_CUTOFF)


def check_request(body: AgentRequest, identity: Identity) -> None:
    """400 for a scratchpad outside an assistant message; 403 per context category."""
    for message in body.messages:
        if message.agent_scratchpad is not None and message.role != "assistant":
            raise BadRequestError(SCRATCHPAD_NOT_ASSISTANT)
    for message in body.messages:
        for item in message.additional_context or ():
            primitive = f"include_{item.category}_context"
            if not identity.can(primitive):
                raise AuthorizationError(f"Unauthorized to access {primitive}")


def _last_user_index(messages: list[AgentMessage]) -> int:
    return max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)


def scratchpad(body: AgentRequest) -> list[dict[str, str]]:
    """The steps taken so far: `options.agent_scratchpad`, else the assistant messages'."""
    if body.options and body.options.agent_scratchpad and body.options.agent_scratchpad.steps:
        return [step.model_dump() for step in body.options.agent_scratchpad.steps]
    steps: list[dict[str, str]] = []
    for message in body.messages[_last_user_index(body.messages) + 1 :]:
        for step in message.agent_scratchpad or ():
            steps.append({**step.action.model_dump(), "observation": step.observation})
    return steps


def template_inputs(body: AgentRequest) -> dict[str, Any]:
    """The variables `chat/react` renders."""
    last = _last_user_index(body.messages)
    question = body.messages[last] if last >= 0 else None
    history = [
        Message(role=m.role, content=m.content)
        for m in body.messages[: max(last, 0)]
        if m.role in ("user", "assistant") and m.content
    ]
    return {
        "question": question.content if question else "",
        "history": history,
        "current_file": question.current_file.model_dump()
        if question and question.current_file
        else None,
        "additional_context": [c.model_dump() for c in question.additional_context or ()]
        if question
        else [],
        "page_context": question.context if question else None,
        "agent_scratchpad": scratchpad(body),
        "unavailable_resources": list(body.unavailable_resources or ()),
        "current_date": today(),
    }


async def prepare(
    gateway: Gateway,
    identity: Identity,
    body: AgentRequest,
    correlation_id: str = "",
    record: RequestRecord | None = None,
) -> ModelRequest:
    check_request(body, identity)
    assembled = await prompts.prepare(
        gateway,
        identity,
        REACT_PROMPT,
        version=None,
        inputs=template_inputs(body),
        metadata=body.model_metadata,
        stream=True,
        correlation_id=correlation_id,
        unauthorized=UNAUTHORIZED_CHAT,
        endpoint_of_its_own=True,
        record=record,
    )
    return assembled.request


def _tool_actions(calls: list[ToolCall], thought: str) -> list[react.AgentEvent]:
    return [react.action(call.name, json.dumps(call.args), thought) for call in calls]


async def open_events(
    gateway: Gateway, call: ModelRequest, ticket: Ticket = NO_LIMITS
) -> AsyncIterator[str]:
    """The step's NDJSON lines, once the model's first content (or the final error) is in:
    the response head waits for it, so it names the model that serves (`X-Gateway-Route`)
    and a model failing before content is a fallback the client never sees."""
    chunks = await until_first_content(metered(ticket, gateway.stream(call)))
    return events(gateway, call, chunks)


async def events(
    gateway: Gateway, call: ModelRequest, chunks: AsyncIterator[Chunk]
) -> AsyncIterator[str]:
    """NDJSON lines as the model streams: final-answer deltas at once, then the action or
    unknown text, then usage; a failure becomes an `error` event (the status is sent)."""
    parser = react.ReActStreamParser()
    primed = False
    input_tokens = output_tokens = 0
    tool_calls = ToolCallAssembler()  # whole or pieced, as the backend streamed them
    try:
        async for chunk in chunks:
            input_tokens = chunk.input_tokens or input_tokens
            output_tokens = chunk.output_tokens or output_tokens
            tool_calls.add(chunk)
            if chunk.text and not primed:  # the model that answers is known from here
                primed = True
                prime(parser, gateway.served_call(call))
            for event in parser.feed(chunk.text):
                yield react_line(event)
        if not primed:  # no text at all: the prefill alone is the answer's start
            prime(parser, gateway.served_call(call))
        calls = tool_calls.calls()
        if calls and not parser.answering:
            closing = _tool_actions(calls, parser.text.strip())
        else:
            closing = list(parser.finish())
        for event in closing:
            yield react_line(event)
        served = gateway.served_target(call.target)
        model = served.identifier or served.name
        yield react_line(react.usage(model, input_tokens, output_tokens))
    except Exception as exc:  # however it broke, the client gets the error event
        yield react_line(error_policy.ndjson_error_event(exc))
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]


def prime(parser: react.ReActStreamParser, call: ModelRequest) -> None:
    """Start from the call's assistant prefill (a fallback's prompt may have its own)."""
    if call.messages and call.messages[-1].role == "assistant":
        parser.prime(call.messages[-1].content)


def react_line(event: react.AgentEvent) -> str:
    return json.dumps(event.as_json()) + "\n"
