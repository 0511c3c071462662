"""Which backend serves a request: decisions only, no I/O."""

from __future__ import annotations

from collections.abc import Iterable

from core.errors import ModelUnavailable
from core.types import ModelTarget
from routing.catalogue import Catalogue, CatalogueModel

MOCK_TEXT = ModelTarget(backend="mock", engine="llm-provider-mocked", name="llm-mocked")
MOCK_CHAT = ModelTarget(
    backend="mock", engine="chat-model-provider-mocked", name="chat-model-mocked"
)


def target_of(model: CatalogueModel) -> ModelTarget:
    return ModelTarget(
        backend=model.backend,
        engine=model.engine,
        name=model.provider_model or model.identifier,
        identifier=model.provider_model or model.identifier,
        family=model.family,
        max_input_tokens=model.max_context_tokens,
        pinned_sampling=model.pinned_sampling,
        **model.params.target_fields(),
    )


class Router:
    """Chooses a target among the catalogue models whose backend deployment is bound."""

    def __init__(self, catalogue: Catalogue, backends: Iterable[str], mock_mode: bool) -> None:
        self.catalogue = catalogue
        self.backends = frozenset(backends)
        self.mock_mode = mock_mode

    def candidates(self, feature: str, requested: str | None = None) -> list[str]:
        setting = self.catalogue.features.get(feature)
        allowed = setting is not None and requested in (
            setting.default_model,
            *setting.fallback_models,
            *setting.selectable_models,
        )
        chain = [requested] if requested and allowed else []
        if setting is not None:
            chain += [setting.default_model, *setting.fallback_models]
        return [ident for ident in chain if ident]

    def target_for(
        self, feature: str, chat: bool = False, requested: str | None = None, strict: bool = False
    ) -> ModelTarget:
        """The first candidate whose backend runs; in mock mode, always the echo mock.
        `strict`: the requested model or nothing (a user's explicit choice never silently
        becomes another model)."""
        if self.mock_mode:
            return MOCK_CHAT if chat else MOCK_TEXT
        if strict and requested:
            model = self.catalogue.model(requested)
            if model is None:
                raise ModelUnavailable(f"unknown model {requested}")
            return self.checked(target_of(model), chat)
        for ident in self.candidates(feature, requested):
            model = self.catalogue.model(ident)
            if model is not None and model.backend in self.backends:
                if model.backend == "mock":
                    return MOCK_CHAT if chat else MOCK_TEXT
                return target_of(model)
        raise ModelUnavailable(f"no configured backend serves {feature}")

    def checked(self, target: ModelTarget, chat: bool = False) -> ModelTarget:
        """`target` if its backend runs (the mock in mock mode), else ModelUnavailable."""
        if self.mock_mode:
            return MOCK_CHAT if chat else MOCK_TEXT
        if target.backend not in self.backends:
            raise ModelUnavailable(f"backend {target.backend} is not configured")
        return target

    def unavailable(self, what: str, chat: bool = False) -> ModelTarget:
        if self.mock_mode:
            return MOCK_CHAT if chat else MOCK_TEXT
        raise ModelUnavailable(f"{what} is not configured on this gateway")
