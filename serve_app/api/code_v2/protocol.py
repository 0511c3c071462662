"""Requests and responses of `/v2/completions`, `/v2/code/completions`,
`/v2/code/generations` (API.md §1.3)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, StringConstraints, Tag

from core.types import TokenUsage
from serve_app.api.common import (
    Choice,
    Code,
    Lenient,
    LongPrompt,
    Messages,
    ModelMetadata,
    ModelProvider,
    Name50,
    Name255,
    Str50,
    Str255,
    Str1024,
    absent_when_none,
)


class CurrentFile(Lenient):
    file_name: Name255
    language_identifier: Str255 | None = None
    content_above_cursor: Code
    content_below_cursor: Code


class Telemetry(Lenient):
    model_engine: Str50 | None = None
    model_name: Str50 | None = None
    lang: Str50 | None = None
    requests: int
    accepts: int
    errors: int


class ContextItem(Lenient):
    type: Str1024
    name: Str1024
    content: Annotated[str, StringConstraints(max_length=500_000)]


class SuggestionsRequestBase(Lenient):
    current_file: CurrentFile
    project_path: Name255 | None = None
    project_id: int | None = None
    model_provider: ModelProvider | None = None
    model_name: Name50 | None = None
    model_endpoint: Str255 | None = None
    model_api_key: Annotated[str, StringConstraints(max_length=2000)] | None = None
    model_identifier: Annotated[str, StringConstraints(max_length=1000)] | None = None
    telemetry: Annotated[list[Telemetry], Field(max_length=10)] = []
    stream: bool = False
    choices_count: int = 0
    context: Annotated[list[ContextItem], Field(max_length=100)] = []
    prompt_id: Str255 | None = None
    role_arn: Str255 | None = None
    model_metadata: ModelMetadata | None = None


class PromptVersion1Request(SuggestionsRequestBase):
    """`prompt_version: 1`: the gateway builds the prompt. Required like every version's: the
    union's tag picks this model only for a body that says `1` (`_prompt_version`)."""

    prompt_version: Literal[1]


class PromptVersion2CompletionsRequest(SuggestionsRequestBase):
    """`prompt_version: 2` completion: the caller may send its own prompt string."""

    prompt_version: Literal[2]
    prompt: LongPrompt | None = None


class PromptVersion2GenerationsRequest(SuggestionsRequestBase):
    """`prompt_version: 2` generation: the caller sends its own prompt string."""

    prompt_version: Literal[2]
    prompt: LongPrompt


class PromptVersion3Request(SuggestionsRequestBase):
    """`prompt_version: 3`: the caller's prompt is a message list, used as is. (Not to be
    confused with API v3, `code_v3.protocol.CodeSuggestionsRequest`.)"""

    prompt_version: Literal[3]
    prompt: Messages


def _prompt_version(value: Any) -> int | None:
    """The union's tag: `prompt_version` is required (API.md §1.3), so a body without it is a
    422, as upstream's discriminated union makes it."""
    raw = (
        value.get("prompt_version")
        if isinstance(value, dict)
        else getattr(value, "prompt_version", None)
    )
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else None


CompletionsRequest = Annotated[
    Annotated[PromptVersion1Request, Tag(1)]
    | Annotated[PromptVersion2CompletionsRequest, Tag(2)]
    | Annotated[PromptVersion3Request, Tag(3)],
    Discriminator(_prompt_version),
]
GenerationsRequest = Annotated[
    Annotated[PromptVersion1Request, Tag(1)]
    | Annotated[PromptVersion2GenerationsRequest, Tag(2)]
    | Annotated[PromptVersion3Request, Tag(3)],
    Discriminator(_prompt_version),
]


class SuggestionsModelDetails(BaseModel):
    """`model` of a v2 answer: which model wrote it, for which language, from which region."""

    engine: str
    name: str
    lang: str
    tokens_consumption_metadata: TokenUsage | None = absent_when_none()  # completions only
    region: str


class SuggestionsMetadata(BaseModel):
    enabled_feature_flags: list[str]


class SuggestionsResponse(BaseModel):
    """`SuggestionsResponse` (API.md §1.3): `id` is the literal `"id"`, `experiments` is always
    empty (LATEST), `created` the Unix time of the answer."""

    id: Literal["id"] = "id"
    model: SuggestionsModelDetails
    experiments: list[Any] = Field(default_factory=list)
    object: Literal["text_completion"] = "text_completion"
    created: int
    choices: list[Choice]
    metadata: SuggestionsMetadata
