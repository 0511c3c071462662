"""Request body of `/v1/prompts/{prompt_id}` and `/v2/prompts/{prompt_id}` (API.md §1.7)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from serve_app.api.common import Lenient, ModelMetadata


class PromptRequest(Lenient):
    inputs: dict[str, Any] = Field(default_factory=dict)
    prompt_version: Annotated[str, StringConstraints(max_length=100)] = "^1.0.0"
    stream: bool = False
    model_metadata: ModelMetadata | None = None
