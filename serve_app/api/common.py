"""Field types and models shared by the protocols of several API versions."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

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


def _is_none(value: object) -> bool:
    return value is None


def absent_when_none() -> Any:
    """A response field that is left out of the body, rather than written `null`, when it has
    no value (the contract's bodies omit such keys)."""
    return Field(default=None, exclude_if=_is_none)


class Choice(BaseModel):
    """One code suggestion (API.md §1.3, §1.4): `index` and `finish_reason` are constants of
    the contract, not values reported by the model."""

    text: str
    index: int = 0
    finish_reason: str = "length"


def choices_of(text: str) -> list[Choice]:
    """Empty suggestions are dropped: `choices` is `[]` for an empty text."""
    return [Choice(text=text)] if text else []
