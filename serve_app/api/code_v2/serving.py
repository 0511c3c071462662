"""`/v2/completions`, `/v2/code/completions`, `/v2/code/generations` (API.md §1.3)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response

from core.types import ContextSnippet, Message, SuggestionInput
from routing.selection import ModelSelection
from serve_app import suggestions
from serve_app.api import admission, error_policy
from serve_app.api.body import LeanJsonRoute
from serve_app.api.coalesce import coalesced
from serve_app.api.code_v2.protocol import (
    CompletionsRequest,
    GenerationsRequest,
    SuggestionsMetadata,
    SuggestionsModelDetails,
    SuggestionsRequestBase,
    SuggestionsResponse,
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
)
from serve_app.api.framing import ModelJSONResponse
from serve_app.api.openapi import MODEL, SSE, TEXT, answers
from serve_app.api.streaming import StreamingResponse

router = APIRouter(route_class=LeanJsonRoute)

UNAUTHORIZED = {
    "code_completions": "Unauthorized to access code completions",
    "code_generations": "Unauthorized to access code generations",
}


def to_input(
    payload: SuggestionsRequestBase,
    feature: str,
    prompt_cache: bool = True,
    session_affinity: str = "",
) -> SuggestionInput:
    # From the fields: a version without `prompt` would cost pydantic's __getattr__ its raise.
    prompt = payload.__dict__.get("prompt")
    raw_messages = None
    raw_prompt = None
    if isinstance(prompt, list):
        raw_messages = [Message(role=m.role, content=m.content) for m in prompt]
    elif isinstance(prompt, str):
        raw_prompt = prompt
    return SuggestionInput(
        feature=feature,  # type: ignore[arg-type]
        file_name=payload.current_file.file_name,
        language_identifier=payload.current_file.language_identifier,
        content_above_cursor=payload.current_file.content_above_cursor,
        content_below_cursor=payload.current_file.content_below_cursor,
        context=[
            ContextSnippet(type=c.type, name=c.name, content=c.content) for c in payload.context
        ],
        raw_prompt=raw_prompt,
        raw_messages=raw_messages,
        prompt_id=payload.prompt_id,
        stream=payload.stream,
        model_provider=payload.model_provider.value if payload.model_provider else None,
        prompt_cache=prompt_cache,
        session_affinity=session_affinity,
    )


def selection_of(payload: SuggestionsRequestBase) -> ModelSelection:
    """`model_metadata` when the body has one (it wins, as upstream), else the v2 fields."""
    if payload.model_metadata is not None:
        return payload.model_metadata.selection()
    provider = payload.model_provider
    return ModelSelection(
        provider=provider.value if provider is not None else None,
        name=payload.model_name,
        endpoint=payload.model_endpoint,
        api_key=payload.model_api_key,
        identifier=payload.model_identifier,
    )


async def respond(request: Request, payload: SuggestionsRequestBase, feature: str) -> Response:
    gateway = gateway_of(request)
    if feature == "code_completions":  # set as the input is built: a model's setattr is slow
        inp = to_input(payload, feature, prompt_cache_enabled(request), session_affinity(request))
    else:
        inp = to_input(payload, feature)
    assembled = await suggestions.prepare(gateway, inp, selection_of(payload), record_of(request))
    if assembled.unit_primitive:  # a registry prompt names the unit primitive it needs (§5.4)
        require(request, assembled.unit_primitive, UNAUTHORIZED[feature])
    ticket, call = await admission.admit(
        request, feature, assembled.request, assembled.usage.input_tokens
    )
    if call is not assembled.request:  # a shrunk max_tokens (pydantic's setattr is slow)
        assembled.request = call
    if inp.stream:
        pieces = suggestions.stream_text(gateway, inp, assembled, ticket)
        body = await suggestions.started(pieces)
        body = error_policy.raw_text(body, correlation_id_of(request))
        return StreamingResponse(coalesced(body), media_type="text/event-stream")
    result = await suggestions.complete(gateway, inp, assembled, record_of(request), ticket)
    target = gateway.served_target(assembled.request.target)
    model = SuggestionsModelDetails(
        engine=target.engine,
        name=target.name,
        lang=assembled.lang,
        tokens_consumption_metadata=result.usage if feature == "code_completions" else None,
        region=settings_of(request).region,
    )
    return ModelJSONResponse(
        SuggestionsResponse(
            model=model,
            created=int(time.time()),
            choices=choices_of(result.text),
            metadata=SuggestionsMetadata(enabled_feature_flags=enabled_feature_flags(request)),
        )
    )


# A registry prompt (`prompt_id`) that is not there is a 404.
SUGGESTIONS = answers(SuggestionsResponse, *MODEL, 404, streams={SSE: TEXT})


@router.post("/v2/completions", responses=SUGGESTIONS)
@router.post("/v2/code/completions", responses=SUGGESTIONS)
async def completions(request: Request, payload: Annotated[CompletionsRequest, Body()]) -> Response:
    """Code completion; JSON, or raw text chunks when `stream` is true."""
    require(request, "complete_code", "Unauthorized to access code completions")
    return await respond(request, payload, "code_completions")


@router.post("/v2/code/generations", responses=SUGGESTIONS)
async def generations(request: Request, payload: Annotated[GenerationsRequest, Body()]) -> Response:
    """Code generation; JSON, or raw text chunks when `stream` is true."""
    service = settings_of(request).cloud_connector_service_name
    require(request, "generate_code", "Unauthorized to access code generations", (service,))
    return await respond(request, payload, "code_generations")
