"""Requests and responses of `/v1/prompts/{prompt_id}`, `/v2/prompts/{prompt_id}` (API.md §1.7)
and `/prompt_directory_structure` (§5.1)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, RootModel, StringConstraints

from serve_app.api.common import Lenient, ModelMetadata, absent_when_none


class PromptRequest(Lenient):
    inputs: dict[str, Any] = Field(default_factory=dict)
    prompt_version: Annotated[str, StringConstraints(max_length=100)] = "^1.0.0"
    stream: bool = False
    model_metadata: ModelMetadata | None = None


class PromptTextResponse(RootModel[str]):
    """v1: the model's text as a JSON string."""


class TokenCounts(BaseModel):
    input_tokens: int
    output_tokens: int


class PromptResponse(BaseModel):
    """v2: the model's text and, only when the model reported token counts, `usage` by model
    name. A v2 stream sends one per line: each text piece, then a `content: ""` usage line."""

    content: str
    usage: dict[str, TokenCounts] | None = absent_when_none()


class PromptDirectoryStructure(RootModel[dict[str, dict[str, Any]]]):
    """`{feature: {subfeature: {family: [versions]}}}` for chat and code_suggestions,
    `{prompt_id: {family: [versions]}}` for every other prompt."""
