"""What a request said about its model (API.md §6.1, §6.4), and the contract's texts for a
selection it refuses. `routing.model_router.ModelRouter` turns a selection into a target."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import UnprocessableError

CUSTOM_ENDPOINT_DISABLED = "specifying custom models endpoint is disabled"
USE_CASES = {"code_completions": "code completions", "code_generations": "code generations"}


@dataclass(frozen=True, slots=True)
class ModelSelection:
    """What a request said about its model; all optional."""

    provider: str | None = None
    name: str | None = None
    endpoint: str | None = None
    api_key: str | None = None
    identifier: str | None = None
    feature_setting: str | None = None
    from_metadata: bool = False

    @property
    def empty(self) -> bool:
        return not (self.provider or self.name or self.endpoint or self.identifier)


def not_supported(name: str, feature: str, provider: str) -> UnprocessableError:
    if feature not in USE_CASES:  # chat and the prompts API
        return UnprocessableError(f"model {name} is not supported")
    return UnprocessableError(
        f"model {name} is not supported by use case {USE_CASES[feature]} and provider {provider}"
    )
