"""The strict schema of a prompt definition file (API.md §5.2, LATEST format).

Unknown keys are rejected at every level, so a typo (`max_token`, `prompt_templates`) fails
start-up instead of being silently ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

TemplateRole = Literal["system", "user", "assistant", "placeholder"]
OperationType = Literal["standard", "agentic", "batch"]

UNIT_PRIMITIVE_PATTERN = r"^[a-z][a-z0-9_]*$"  # GitLab unit primitives are snake_case


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelParams(_Strict):
    """Overrides of the catalogue's model parameters for this prompt."""

    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, gt=0)
    max_retries: int | None = Field(default=None, ge=0)
    extra_headers: dict[str, str] | None = None
    model: str | None = None


class OpenAIReasoning(_Strict):
    effort: Literal["minimal", "low", "medium", "high"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None


class OpenAIProviderParams(_Strict):
    verbosity: Literal["low", "medium", "high"] | None = None
    reasoning: OpenAIReasoning | None = None


class ProviderParams(_Strict):
    openai: OpenAIProviderParams | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> ProviderParams:
        if self.openai is None:
            raise ValueError("provider_params must set at least one provider block")
        return self


class ModelConfig(_Strict):
    params: ModelParams = Field(default_factory=ModelParams)
    provider_params: ProviderParams | None = None


class ContextManagement(_Strict):
    edits: list[dict[str, Any]] = Field(default_factory=list)


class InvocationParams(_Strict):
    """How the model is called with this prompt (timeout, stop sequences...)."""

    stop: list[str] = Field(default_factory=list)
    timeout: float | None = Field(default=None, gt=0)
    vertex_location: str | None = None
    cache_control_injection_points: list[dict[str, Any]] = Field(default_factory=list)
    context_management: ContextManagement | None = None
    model_id: str | None = None


class PromptDefinition(_Strict):
    """One `<prompt_id>/<family>/<version>.yml` file."""

    name: str = Field(min_length=1)
    model: ModelConfig = Field(default_factory=ModelConfig)
    unit_primitive: str = Field(pattern=UNIT_PRIMITIVE_PATTERN)
    prompt_template: dict[TemplateRole, str | list[str]] = Field(min_length=1)
    params: InvocationParams = Field(default_factory=InvocationParams)
    operation_type: OperationType = "standard"

    @model_validator(mode="after")
    def _check(self) -> PromptDefinition:
        placeholder = self.prompt_template.get("placeholder")
        if placeholder is not None and (
            not isinstance(placeholder, str) or not placeholder.strip().isidentifier()
        ):
            raise ValueError("prompt_template.placeholder must name one variable")
        return self
