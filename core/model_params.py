"""A model's `params:` as operators write them (configs/models.yml, a custom model in
serve_config.yaml), validated when the catalogue loads (an unknown key fails start-up instead
of being silently ignored) and turned once into the typed fields of the model's ModelTarget."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.types import CompletionStyle, Sampling, Timeouts


class ModelParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Sampling defaults of every call to the model; a prompt file's values win (API.md §5.2).
    max_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    stop: tuple[str, ...] = ()  # the model's own stop sequences, sent after a call's
    # Deadlines of a call in seconds, over the backend's configured ones.
    timeout_s: float | None = Field(default=None, gt=0)
    first_byte_timeout_s: float | None = Field(default=None, gt=0)
    # How a code completion reaches the model (core.types.CompletionStyle).
    completion_type: Literal["fim", "text", "chat"] = "fim"
    fim_format: str | None = None
    context_max_percent: float = Field(default=1.0, ge=0, le=1)
    # The context window also holds the answer (llama.cpp): prompts keep room for max_tokens.
    context_window_includes_output: bool = False

    @model_validator(mode="after")
    def _fim_format_names_both_parts(self) -> ModelParams:
        fim = self.fim_format
        if fim is not None and not ("{prefix}" in fim and "{suffix}" in fim):
            raise ValueError("fim_format must contain {prefix} and {suffix}")
        return self

    def target_fields(self) -> dict[str, Any]:
        """The ModelTarget fields these params set."""
        return {
            "sampling": Sampling(
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                top_p=self.top_p,
                top_k=self.top_k,
            ),
            "stop": self.stop,
            "timeouts": Timeouts(total_s=self.timeout_s, first_byte_s=self.first_byte_timeout_s),
            "completion": CompletionStyle(
                type=self.completion_type,
                fim_format=self.fim_format,
                context_max_percent=self.context_max_percent,
            ),
            "context_window_includes_output": self.context_window_includes_output,
        }
