"""Response models write exactly the bodies the contract's handlers wrote as dicts: the same
keys, in the same order, present or absent by the same rules, in the same bytes (compared with
what JSONResponse, or json.dumps for frames, makes of the dict the contract shows)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from core.types import TokenUsage
from deployments.prompts import PromptRegistry
from routing.catalogue import load_catalogue
from serve_app.api.chat.protocol import ChatMetadata, ChatResponse
from serve_app.api.code_v2.protocol import (
    SuggestionsMetadata,
    SuggestionsModelDetails,
    SuggestionsResponse,
)
from serve_app.api.code_v3.protocol import (
    CompletionMetadata,
    CompletionModelDetails,
    CompletionResponse,
    StreamStart,
)
from serve_app.api.common import choices_of
from serve_app.api.framing import ModelJSONResponse, ndjson_line, sse_event
from serve_app.api.monitoring.protocol import (
    HealthResponse,
    ModelDefinitionsResponse,
    ReadinessResponse,
)
from serve_app.api.prompts.protocol import (
    PromptDirectoryStructure,
    PromptResponse,
    PromptTextResponse,
    TokenCounts,
)
from serve_app.api.proxy.protocol import MockedProxyResponse
from serve_app.api.user_access_token.protocol import UserAccessTokenResponse

# Escapes, non-ASCII, a line separator and control characters: written as JSONResponse does.
TEXT = 'é中😀\u2028 "q" \\ \t\n\x00\x1f</script>'
USAGE = TokenUsage(input_tokens=16, output_tokens=14, max_output_tokens_used=True)
FLAGS = ["flag_a", "flag_b"]


def same_bytes(model: BaseModel, old: Any) -> None:
    response = ModelJSONResponse(model)
    assert response.body == JSONResponse(old).body
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.body))


def v2_body(text: str, usage: TokenUsage | None) -> SuggestionsResponse:
    return SuggestionsResponse(
        model=SuggestionsModelDetails(
            engine="vertex-ai",
            name="codestral-2501",
            lang="python",
            tokens_consumption_metadata=usage,
            region="us-central1",
        ),
        created=1702389046,
        choices=choices_of(text),
        metadata=SuggestionsMetadata(enabled_feature_flags=FLAGS),
    )


def v2_dict(text: str, usage: TokenUsage | None) -> dict[str, Any]:
    model: dict[str, Any] = {"engine": "vertex-ai", "name": "codestral-2501", "lang": "python"}
    if usage is not None:
        model["tokens_consumption_metadata"] = usage.model_dump()
    model["region"] = "us-central1"
    return {
        "id": "id",
        "model": model,
        "experiments": [],
        "object": "text_completion",
        "created": 1702389046,
        "choices": [{"text": text, "index": 0, "finish_reason": "length"}] if text else [],
        "metadata": {"enabled_feature_flags": FLAGS},
    }


@pytest.mark.parametrize("text", [TEXT, ""])
@pytest.mark.parametrize("usage", [USAGE, None], ids=["completions", "generations"])
def test_v2_suggestions_response(text: str, usage: TokenUsage | None) -> None:
    same_bytes(v2_body(text, usage), v2_dict(text, usage))


def test_v2_tokens_consumption_metadata_is_absent_not_null() -> None:
    assert b"tokens_consumption_metadata" not in ModelJSONResponse(v2_body("x", None)).body


def v3_metadata(lang: str | None) -> CompletionMetadata:
    return CompletionMetadata(
        model=CompletionModelDetails(engine="anthropic", name="claude", lang=lang),
        timestamp=1702389046,
        enabled_feature_flags=FLAGS,
        region="europe-west4",
    )


@pytest.mark.parametrize("text", [TEXT, ""])
@pytest.mark.parametrize("lang", ["go", ""])
def test_v3_completion_response(text: str, lang: str) -> None:
    metadata = v3_metadata(lang)
    model = {"engine": "anthropic", "name": "claude", "lang": lang}
    old = {
        "choices": [{"text": text, "index": 0, "finish_reason": "length"}] if text else [],
        "model": model,
        "metadata": {
            "model": model,
            "timestamp": 1702389046,
            "enabled_feature_flags": FLAGS,
            "region": "europe-west4",
        },
    }
    response = CompletionResponse(choices=choices_of(text), model=metadata.model, metadata=metadata)
    same_bytes(response, old)


def test_v4_stream_start_has_no_lang_and_json_dumps_spacing() -> None:
    old = {
        "metadata": {
            "model": {"engine": "anthropic", "name": "claude"},
            "timestamp": 1702389046,
            "enabled_feature_flags": ["é"],
            "region": "europe-west4",
        }
    }
    metadata = v3_metadata(None).model_copy(update={"enabled_feature_flags": ["é"]})
    assert sse_event("stream_start", StreamStart(metadata=metadata)) == sse_event(
        "stream_start", old
    )
    assert '"lang"' not in sse_event("stream_start", StreamStart(metadata=metadata))


def test_legacy_chat_response() -> None:
    old = {
        "response": TEXT,
        "metadata": {"provider": "anthropic", "model": "claude-2.1", "timestamp": 1702389046},
    }
    metadata = ChatMetadata(provider="anthropic", model="claude-2.1", timestamp=1702389046)
    same_bytes(ChatResponse(response=TEXT, metadata=metadata), old)


def test_prompt_responses_and_lines() -> None:
    same_bytes(PromptTextResponse(TEXT), TEXT)
    same_bytes(PromptResponse(content=TEXT), {"content": TEXT})
    usage = {"claude": TokenCounts(input_tokens=3, output_tokens=5)}
    old_usage = {"claude": {"input_tokens": 3, "output_tokens": 5}}
    same_bytes(PromptResponse(content=TEXT, usage=usage), {"content": TEXT, "usage": old_usage})
    assert ndjson_line(PromptResponse(content=TEXT)) == ndjson_line({"content": TEXT})
    assert ndjson_line(PromptResponse(content="", usage=usage)) == ndjson_line(
        {"content": "", "usage": old_usage}
    )


def test_small_bodies() -> None:
    same_bytes(HealthResponse(), {})
    same_bytes(
        ReadinessResponse(backends={"mock": True, "local": False}),
        {"backends": {"mock": True, "local": False}},
    )
    same_bytes(MockedProxyResponse(), {"response": "mocked"})
    token = UserAccessTokenResponse(token="a.b.c", expires_at=1702392646)
    same_bytes(token, {"token": "a.b.c", "expires_at": 1702392646})


def test_model_definitions_and_prompt_directory_pass_through_unchanged() -> None:
    definitions = load_catalogue().definitions()
    same_bytes(ModelDefinitionsResponse.model_validate(definitions), definitions)
    tree = PromptRegistry().directory_structure()
    same_bytes(PromptDirectoryStructure(tree), tree)
