"""`/v1/chat/{chat_invokable}` (deprecated, API.md §1.6): the caller's own prompt sent as is,
a string to the text-completion model, a message list to the chat model."""

from __future__ import annotations

from collections.abc import AsyncIterator

from core import calls
from core.errors import ModelError, NotFoundError
from core.mock_models import answering
from core.types import Message, ModelRequest, ModelTarget, Sampling
from routing.admission import NO_LIMITS, Ticket
from routing.admission.streams import metered
from routing.selection import ModelSelection
from serve_app.api import error_policy
from serve_app.api.chat.protocol import (
    MESSAGES_MAX_TOKENS,
    ChatParams,
    PromptPayload,
)
from serve_app.gateway import Gateway

# invokable -> the unit primitive it needs
INVOKABLES = {
    "explain_code": "duo_chat",
    "write_tests": "duo_chat",
    "refactor_code": "duo_chat",
    "agent": "duo_chat",
    "explain_vulnerability": "explain_vulnerability",
    "summarize_comments": "summarize_comments",
    "troubleshoot_job": "troubleshoot_job",
}
FEATURE = "duo_chat"


def unit_primitive_of(invokable: str) -> str:
    try:
        return INVOKABLES[invokable]
    except KeyError:
        raise NotFoundError("Not found") from None


def target(gateway: Gateway, payload: PromptPayload) -> ModelTarget:
    """`provider: litellm` is the caller's own endpoint; otherwise the Claude model `model`
    names, Duo Chat's default when it names none."""
    selection = ModelSelection(
        provider=payload.provider or "anthropic",
        name=payload.model,
        endpoint=payload.model_endpoint,
        api_key=payload.model_api_key,
        identifier=payload.model_identifier,
    )
    return gateway.choose(FEATURE, selection)


def model_request(
    gateway: Gateway, payload: PromptPayload, stream: bool, correlation_id: str = ""
) -> ModelRequest:
    """A string goes to the model as a text prompt, a message list as chat: the legacy text
    or chat model, each with its own mock (API.md §4.1)."""
    chosen = target(gateway, payload)

    async def for_fallback(other: ModelTarget) -> tuple[ModelRequest, ModelRequest]:
        # The caller's prompt as is, with the fallback's own stops, sampling and deadlines.
        rebuilt = call_for(other, payload, stream, correlation_id)
        return rebuilt, rebuilt

    gateway.on_fallback(chosen, for_fallback)
    return call_for(chosen, payload, stream, correlation_id)


def call_for(
    chosen: ModelTarget, payload: PromptPayload, stream: bool, correlation_id: str
) -> ModelRequest:
    params = payload.params or ChatParams()
    if isinstance(payload.content, str):
        sampling = Sampling(max_tokens=params.max_tokens_to_sample, temperature=params.temperature)
        return calls.model_request(
            answering(chosen, "text"),
            prefix=payload.content,
            sampling=sampling,
            stop=params.stop_sequences,
            stream=stream,
            correlation_id=correlation_id,
        )
    return calls.model_request(
        answering(chosen, "chat"),
        kind="chat",
        messages=[Message(role=m.role, content=m.content) for m in payload.content],
        sampling=Sampling(
            max_tokens=min(params.max_tokens_to_sample, MESSAGES_MAX_TOKENS),
            temperature=params.temperature,
        ),
        stop=params.stop_sequences,
        stream=stream,
        correlation_id=correlation_id,
    )


async def text_stream(
    gateway: Gateway, request: ModelRequest, ticket: Ticket = NO_LIMITS
) -> AsyncIterator[str]:
    chunks = metered(ticket, gateway.stream(request))
    try:
        async for chunk in chunks:
            if chunk.text:
                yield chunk.text
    except ModelError as exc:
        raise error_policy.legacy_chat_error(exc) from None
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
