"""`/v3/code/completions` (raw text stream) and `/v4/code/suggestions` (SSE) (API.md §1.4)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from core.errors import UnprocessableError
from core.types import ContextSnippet, Message, SuggestionInput
from routing.selection import ModelSelection
from serve_app import suggestions
from serve_app.api import admission, error_policy
from serve_app.api.body import LeanJsonRoute
from serve_app.api.coalesce import coalesced
from serve_app.api.code_v3.protocol import (
    CodeContextComponent,
    CodeSuggestionsRequest,
    CompletionComponent,
    CompletionMetadata,
    CompletionModelDetails,
    CompletionPayload,
    CompletionResponse,
    ContentChunk,
    GenerationComponent,
    GenerationPayload,
    StreamStart,
)
from serve_app.api.common import choices_of
from serve_app.api.context import (
    correlation_id_of,
    enabled_feature_flags,
    gateway_of,
    prompt_cache_enabled,
    record_of,
    require,
    session_affinity,
    settings_of,
    version_at_least,
)
from serve_app.api.error_policy import StreamError
from serve_app.api.framing import SSE_HEADERS, ModelJSONResponse, content_chunk, sse_event
from serve_app.api.openapi import MODEL, SSE, TEXT, answers, sse_events
from serve_app.api.streaming import StreamingResponse
from serve_app.gateway import Gateway

router = APIRouter(route_class=LeanJsonRoute)

ADVANCED_CONTEXT_LSP = (7, 17, 1)
UNAUTHORIZED = "Unauthorized to access code suggestions"
FIRST_COMPONENT = (
    "the first prompt component must be code_editor_completion or code_editor_generation"
)


def to_input(request: Request, body: CodeSuggestionsRequest) -> SuggestionInput:
    first = body.prompt_components[0]
    if isinstance(first, CodeContextComponent):
        raise UnprocessableError(FIRST_COMPONENT)
    service = settings_of(request).cloud_connector_service_name
    payload = first.payload
    context: list[ContextSnippet] = []
    if version_at_least(
        request.headers.get("x-gitlab-language-server-version"), ADVANCED_CONTEXT_LSP
    ):
        context = [
            ContextSnippet(type=c.payload.type, name=c.payload.name, content=c.payload.content)
            for c in body.prompt_components[1:]
            if isinstance(c, CodeContextComponent)
        ]
    common: dict[str, Any] = {
        "file_name": payload.file_name,
        "language_identifier": payload.language_identifier,
        "content_above_cursor": payload.content_above_cursor,
        "content_below_cursor": payload.content_below_cursor,
        "context": context,
        "stream": payload.stream,
        "model_provider": payload.model_provider,
    }
    if isinstance(first, CompletionComponent):
        require(request, "complete_code", UNAUTHORIZED, (service,))
        prompt = first.payload.prompt
        if isinstance(prompt, list):
            common["raw_messages"] = [Message(role=m.role, content=m.content) for m in prompt]
        elif isinstance(prompt, str):
            common["raw_prompt"] = prompt
        return SuggestionInput(
            feature="code_completions",
            prompt_cache=prompt_cache_enabled(request),
            session_affinity=session_affinity(request),
            **common,
        )
    assert isinstance(first, GenerationComponent)
    # Only the completion branch refuses gateway-minted tokens (API.md §2.3).
    require(request, "generate_code", UNAUTHORIZED)
    gen = first.payload
    return SuggestionInput(
        feature="code_generations",
        raw_prompt=gen.prompt,
        prompt_id=gen.prompt_id,
        prompt_version=gen.prompt_version,
        prompt_enhancer=gen.prompt_enhancer or {},
        **common,
    )


def _metadata(request: Request, engine: str, name: str, lang: str | None) -> CompletionMetadata:
    return CompletionMetadata(
        model=CompletionModelDetails(engine=engine, name=name, lang=lang),
        timestamp=int(time.time()),
        enabled_feature_flags=enabled_feature_flags(request),
        region=settings_of(request).region,
    )


def selection_of(body: CodeSuggestionsRequest, gateway: Gateway) -> ModelSelection:
    """`model_metadata` when the body has one (API.md §1.4), else the server's default: the
    editor payload only picks a generation's model by provider, or names a GitLab model
    (in the gateway's catalogue) outright. Any other provider/name pair is ignored, never a
    422: editors send whatever names their settings hold."""
    if body.model_metadata is not None:
        return body.model_metadata.selection()
    first = body.prompt_components[0]
    payload = first.payload
    if isinstance(first, CodeContextComponent) or not isinstance(
        payload, CompletionPayload | GenerationPayload
    ):
        return ModelSelection()
    name = payload.model_name if gateway.knows_model(payload.model_name or "") else None
    if name is None and not isinstance(payload, GenerationPayload):
        return ModelSelection()
    return ModelSelection(provider=payload.model_provider, name=name)


async def _answer(request: Request, body: CodeSuggestionsRequest, sse: bool) -> Response:
    gateway = gateway_of(request)
    inp = to_input(request, body)
    selection = selection_of(body, gateway)
    assembled = await suggestions.prepare(gateway, inp, selection, record_of(request))
    if assembled.unit_primitive:  # a registry prompt names the unit primitive it needs (§5.4)
        require(request, assembled.unit_primitive, UNAUTHORIZED)
    ticket, assembled.request = await admission.admit(
        request, inp.feature, assembled.request, assembled.usage.input_tokens
    )
    if inp.stream:
        pieces = await suggestions.started(suggestions.stream_text(gateway, inp, assembled, ticket))
        target = gateway.served_target(assembled.request.target)  # known at the first piece
        if not sse:
            raw = error_policy.raw_text(pieces, correlation_id_of(request))
            return StreamingResponse(coalesced(raw), media_type="text/event-stream")
        start = StreamStart(metadata=_metadata(request, target.engine, target.name, None))
        return StreamingResponse(
            coalesced(_sse(pieces, start, correlation_id_of(request))),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )
    result = await suggestions.complete(gateway, inp, assembled, record_of(request), ticket)
    target = gateway.served_target(assembled.request.target)
    metadata = _metadata(request, target.engine, target.name, assembled.lang)
    return ModelJSONResponse(
        CompletionResponse(choices=choices_of(result.text), model=metadata.model, metadata=metadata)
    )


async def _sse(
    pieces: AsyncIterator[str], start: StreamStart, correlation_id: str
) -> AsyncIterator[str]:
    yield sse_event("stream_start", start)
    try:
        async for piece in pieces:
            yield content_chunk(piece)
    except Exception as exc:  # however it broke, the stream never ends cleanly
        yield error_policy.sse_error_frame(exc, correlation_id)
        return
    yield sse_event("stream_end", None)


# v3 streams raw text under the SSE media type; v4 streams real SSE events.
V3 = answers(CompletionResponse, *MODEL, 404, streams={SSE: TEXT})
V4_EVENTS = {
    "stream_start": StreamStart,
    "content_chunk": ContentChunk,
    "stream_end": None,
    "error": StreamError,
}
V4 = answers(CompletionResponse, *MODEL, 404, streams={SSE: sse_events(V4_EVENTS)})


@router.post("/v3/code/completions", responses=V3)
async def v3_completions(request: Request, body: CodeSuggestionsRequest) -> Response:
    """Completion or generation by the first prompt component; raw text stream when asked."""
    return await _answer(request, body, sse=False)


@router.post("/v4/code/suggestions", responses=V4)
async def v4_suggestions(request: Request, body: CodeSuggestionsRequest) -> Response:
    """Same as v3, but a stream is real SSE: stream_start, content_chunk..., stream_end."""
    return await _answer(request, body, sse=True)
