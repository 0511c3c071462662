"""The provider model tables (configs/provider_models.yml): which provider model names the
legacy request fields may carry and the catalogue models they map to (API.md §6.4)."""

from __future__ import annotations

from collections.abc import Collection

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderNames(_Strict):
    names: tuple[str, ...] = ()  # names a request may ask for, for every feature
    names_by_feature: dict[str, tuple[str, ...]] = Field(default_factory=dict)  # overrides
    gitlab_models: dict[str, str] = Field(default_factory=dict)  # legacy name -> GitLab model
    generation_default: str | None = None  # v3/v4 generations naming only the provider
    direct_base: str | None = None  # an allowed name with no GitLab model runs on this one

    def allowed(self, feature: str) -> tuple[str, ...]:
        return self.names_by_feature.get(feature, self.names)

    def models_named(self) -> list[tuple[str, str]]:
        """(where, GitLab model identifier) for every catalogue model this entry names."""
        named = [(f"gitlab_models.{name}", ident) for name, ident in self.gitlab_models.items()]
        for key in ("generation_default", "direct_base"):
            ident = getattr(self, key)
            if ident is not None:
                named.append((key, ident))
        return named


class LiteLLMPrefixes(_Strict):
    openai_compatible: frozenset[str]  # the model id sent is the part after the prefix
    foreign: frozenset[str]  # providers with their own protocol: refused


class ProviderModels(_Strict):
    providers: dict[str, ProviderNames]
    litellm_prefixes: LiteLLMPrefixes

    def names(self, provider: str) -> ProviderNames:
        return self.providers.get(provider, NO_NAMES)

    def check_against(self, models: Collection[str], features: Collection[str]) -> None:
        """Every GitLab model named here is in the catalogue, every feature in its settings."""
        for provider, table in self.providers.items():
            for where, ident in table.models_named():
                if ident not in models:
                    raise ValueError(
                        f"provider_models.yml: {provider}.{where} names unknown model {ident!r}"
                    )
            for feature in table.names_by_feature:
                if feature not in features:
                    raise ValueError(
                        f"provider_models.yml: {provider}.names_by_feature names unknown "
                        f"feature {feature!r}"
                    )


NO_NAMES = ProviderNames()
