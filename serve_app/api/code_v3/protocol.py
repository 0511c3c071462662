"""Requests and responses of `/v3/code/completions` and `/v4/code/suggestions` (API.md §1.4)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from serve_app.api.common import (
    Choice,
    Code,
    Lenient,
    LongPrompt,
    Messages,
    ModelMetadata,
    Name255,
    Str255,
    Str1024,
    absent_when_none,
)


class ComponentMetadata(Lenient):
    source: Str255
    version: Str255


class EditorPayload(Lenient):
    file_name: Name255
    content_above_cursor: Code
    content_below_cursor: Code
    language_identifier: Str255 | None = None
    model_provider: Literal["vertex-ai", "anthropic", "amazon_q", "litellm"] | None = None
    model_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] | None = (
        None
    )
    stream: bool = False
    role_arn: Str255 | None = None


class CompletionPayload(EditorPayload):
    choices_count: int = 0
    prompt: LongPrompt | Messages | None = None


class GenerationPayload(EditorPayload):
    prompt: LongPrompt | None = None
    prompt_id: Str255 | None = None
    prompt_version: Str255 = "^1.0.0"
    prompt_enhancer: dict[str, Any] | None = None


class CompletionComponent(Lenient):
    type: Literal["code_editor_completion"]
    payload: CompletionPayload
    metadata: ComponentMetadata | None = None


class GenerationComponent(Lenient):
    type: Literal["code_editor_generation"]
    payload: GenerationPayload
    metadata: ComponentMetadata | None = None


class CodeContextPayload(Lenient):
    type: Str1024
    name: Str1024
    content: Code


class CodeContextComponent(Lenient):
    type: Literal["code_context"]
    payload: CodeContextPayload
    metadata: ComponentMetadata | None = None


Component = Annotated[
    CompletionComponent | GenerationComponent | CodeContextComponent,
    Field(discriminator="type"),
]


class CodeSuggestionsRequest(Lenient):
    """The body of API v3 `/v3/code/completions` and v4 `/v4/code/suggestions`: the first
    prompt component says what to do. (Not to be confused with v2's `prompt_version: 3`,
    `code_v2.protocol.PromptVersion3Request`.)"""

    prompt_components: Annotated[list[Component], Field(min_length=1, max_length=100)]
    model_metadata: ModelMetadata | None = None  # self-hosted / model selection (API.md §6.1)


class CompletionModelDetails(BaseModel):
    """`model` of a v3/v4 answer. `lang` is known once the prompt is built: a v4 stream's
    `stream_start` goes out without it."""

    engine: str
    name: str
    lang: str | None = absent_when_none()


class CompletionMetadata(BaseModel):
    model: CompletionModelDetails
    timestamp: int
    enabled_feature_flags: list[str]
    region: str


class CompletionResponse(BaseModel):
    """`CompletionResponse` (API.md §1.4): `model` at the top level (LATEST) and in
    `metadata` (where JAN25 put it)."""

    choices: list[Choice]
    model: CompletionModelDetails
    metadata: CompletionMetadata


class ChunkDelta(BaseModel):
    content: str


class ChunkChoice(BaseModel):
    delta: ChunkDelta
    index: int


class ContentChunk(BaseModel):
    """`data` of a v4 `content_chunk` event, for the OpenAPI document only:
    `framing.content_chunk` writes these bytes itself, one event per model token."""

    choices: list[ChunkChoice]


class StreamStart(BaseModel):
    """`data` of v4's first SSE event, `stream_start`: the metadata only."""

    metadata: CompletionMetadata
