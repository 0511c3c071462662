"""Field types shared by the code-suggestion schemas."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from core.types import Role
from routing.selection import ModelSelection

Name255 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]
Str255 = Annotated[str, StringConstraints(max_length=255)]
Name50 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)]
Str50 = Annotated[str, StringConstraints(max_length=50)]
Str1024 = Annotated[str, StringConstraints(max_length=1024)]
Code = Annotated[str, StringConstraints(max_length=100_000)]
LongPrompt = Annotated[str, StringConstraints(max_length=400_000)]


class ModelProvider(StrEnum):
    ANTHROPIC = "anthropic"
    VERTEX_AI = "vertex-ai"
    LITELLM = "litellm"
    CODESTRAL = "codestral"
    FIREWORKS = "fireworks_ai"
    AMAZON_Q = "amazon_q"
    GITLAB = "gitlab"


class Lenient(BaseModel):
    """Unknown fields are ignored, as upstream does: real clients send extra keys."""

    model_config = ConfigDict(extra="ignore")


class PromptMessage(Lenient):
    role: Role
    content: LongPrompt


class ModelMetadata(Lenient):
    """`model_metadata` (API.md §6.1)."""

    provider: Str255
    name: Str255 | None = None
    endpoint: Str255 | None = None
    api_key: Annotated[str, StringConstraints(max_length=2000)] | None = None
    identifier: Annotated[str, StringConstraints(max_length=1000)] | None = None
    feature_setting: Str255 | None = None
    role_arn: Str255 | None = None

    def selection(self) -> ModelSelection:
        """The model this object names, for the ModelChooser."""
        return ModelSelection(
            provider=self.provider,
            name=self.name,
            endpoint=self.endpoint,
            api_key=self.api_key,
            identifier=self.identifier,
            feature_setting=self.feature_setting,
            from_metadata=True,
        )


Messages = Annotated[list[PromptMessage], Field(min_length=1, max_length=100)]
