"""How a request chooses its model (API.md §1.3, §1.4, §1.6, §1.7, §6): decisions only.

One path for code suggestions, `/v1/chat`, `/v2/chat/agent` and the prompts API. Inputs, most
specific first: a `model_metadata` object; the v2 `model_provider` / `model_name` /
`model_endpoint` / `model_api_key` / `model_identifier` fields (v3/v4: the editor payload's
`model_provider` / `model_name`; `/v1/chat`: its payload's `provider` / `model` / `model_*`);
else the feature's catalogue default.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from core.errors import UnprocessableError
from core.types import ModelTarget, Sampling
from routing.families import FAMILIES, family_of
from routing.provider_models import LiteLLMPrefixes
from routing.router import Router, target_of

OPENAI_COMPAT = "openai_compat"
IN_GRAPH_PREFIX = "vllm:"  # backends of custom models served in the graph
SELF_HOSTED_ENGINE = "litellm"
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


def upstream_model_id(identifier: str | None, name: str, prefixes: LiteLLMPrefixes) -> str:
    """The model id an OpenAI-compatible server is asked for, from a LiteLLM-style identifier."""
    if not identifier:
        return name
    prefix, sep, rest = identifier.partition("/")
    if sep and prefix in prefixes.openai_compatible:
        return rest
    if sep and prefix in prefixes.foreign:
        raise UnprocessableError(
            f"model identifier provider {prefix} is not supported: "
            "point model_endpoint at an OpenAI-compatible server"
        )
    return identifier


def self_hosted_target(selection: ModelSelection, feature: str, model_id: str) -> ModelTarget:
    family = family_of(selection.name or "general")
    max_tokens = (
        family.completion_max_tokens
        if feature == "code_completions"
        else family.generation_max_tokens
    )
    return ModelTarget(
        backend=OPENAI_COMPAT,
        engine=SELF_HOSTED_ENGINE,
        name=model_id,
        identifier=model_id,
        family=(*family.prompt_families, "base"),
        max_input_tokens=family.max_input_tokens,
        endpoint=(selection.endpoint or "").rstrip("/") or None,
        api_key=SecretStr(selection.api_key) if selection.api_key else None,
        sampling=Sampling(max_tokens=max_tokens),
        stop=family.stop_for(feature),
    )


class ModelChooser:
    """Turns a request's `ModelSelection` into the target that serves it."""

    def __init__(self, router: Router, custom_endpoints: bool = False) -> None:
        self.router = router
        self.catalogue = router.catalogue
        self.custom_endpoints = custom_endpoints  # AIGW_CUSTOM_MODELS__ENABLED (SSRF guard)
        self.tables = router.catalogue.provider_models

    def choose(
        self, feature: str, selection: ModelSelection | None, chat: bool = False
    ) -> ModelTarget:
        """Validates the selection (422 with the contract's text), then resolves it; in mock
        mode a valid selection is still answered by the echo mock."""
        if selection is not None and selection.endpoint and not self.custom_endpoints:
            raise UnprocessableError(CUSTOM_ENDPOINT_DISABLED)
        if selection is None or selection.empty:
            return self._default(feature, selection, chat)
        if selection.from_metadata:
            return self._from_metadata(feature, selection, chat)
        return self._from_fields(feature, selection, chat)

    def _default(self, feature: str, selection: ModelSelection | None, chat: bool) -> ModelTarget:
        """The default model of the feature setting the request names (one we do not model
        counts as none), else of the feature."""
        setting = selection.feature_setting if selection is not None else None
        known = setting if setting in self.catalogue.features else None
        return self.router.target_for(known or feature, chat=chat)

    def _gitlab(self, feature: str, identifier: str, provider: str, chat: bool) -> ModelTarget:
        if not identifier:  # "" = the GitLab default of the feature
            return self.router.target_for(feature, chat=chat)
        model = self.catalogue.model(identifier)
        if model is None:
            raise not_supported(identifier, feature, provider)
        return self.router.target_for(feature, chat=chat, requested=identifier, strict=True)

    def _from_metadata(self, feature: str, selection: ModelSelection, chat: bool) -> ModelTarget:
        provider = selection.provider or ""
        if provider == "gitlab":
            if selection.identifier:
                return self._gitlab(feature, selection.identifier, provider, chat)
            return self._default(feature, selection, chat)
        if provider in ("fireworks_ai", "amazon_q"):
            return self.router.unavailable(f"provider {provider}", chat)
        return self._self_hosted(feature, selection, chat)

    def _from_fields(self, feature: str, selection: ModelSelection, chat: bool) -> ModelTarget:
        provider = selection.provider or ""
        name = selection.name or ""
        if provider == "gitlab":
            return self._gitlab(feature, name, provider, chat)
        if provider in ("litellm", "codestral"):
            if name and name not in FAMILIES:
                raise not_supported(name, feature, provider)
            if name and feature == "code_generations" and not family_of(name).can_generate:
                raise not_supported(name, feature, provider)
            return self._self_hosted(feature, selection, chat)
        if provider == "" and (selection.endpoint or selection.identifier):
            return self._self_hosted(feature, selection, chat)
        if provider == "":
            # The contract checks `model_name` only with a provider (API.md §1.3): a name alone
            # picks the GitLab model it names, and any other name is ignored, as upstream does.
            known = name if self.catalogue.model(name) is not None else ""
            return self._gitlab(feature, known, "gitlab", chat)
        return self._provider_name(feature, provider, name, chat)

    def _self_hosted(self, feature: str, selection: ModelSelection, chat: bool) -> ModelTarget:
        """A self-hosted model: the vLLM replicas in this graph when the request names one of
        the custom models (docs/custom-models.md), else the caller's OpenAI-compatible server."""
        prefixes = self.tables.litellm_prefixes
        model_id = upstream_model_id(selection.identifier, selection.name or "", prefixes)
        model = self.catalogue.model(model_id)
        if model is not None and model.backend.startswith(IN_GRAPH_PREFIX):
            return self.router.target_for(feature, chat=chat, requested=model_id, strict=True)
        if not selection.identifier:
            model_id = selection.name or "general"
        target = self_hosted_target(selection, feature, model_id)
        return self.router.checked(target, chat)

    def _provider_name(self, feature: str, provider: str, name: str, chat: bool) -> ModelTarget:
        table = self.tables.names(provider)
        allowed = table.allowed(feature)
        legacy = table.gitlab_models.get(name)
        if legacy is not None and (name in allowed or self._selectable(feature, legacy)):
            return self._gitlab(feature, legacy, provider, chat)
        if name and name not in allowed:
            # v3/v4 send GitLab identifiers in `model_name`.
            if self.catalogue.model(name) is not None:
                return self._gitlab(feature, name, provider, chat)
            raise not_supported(name, feature, provider)
        if not name:
            if feature == "code_generations" and table.generation_default is not None:
                return self._gitlab(feature, table.generation_default, provider, chat)
            return self.router.target_for(feature, chat=chat)
        if table.direct_base is None:
            return self.router.unavailable(f"model {name} of provider {provider}", chat)
        # An allowed name with no catalogue entry (a Claude model): ask the provider directly.
        base = target_of(self.catalogue.models[table.direct_base])
        target = base.model_copy(update={"name": name, "identifier": name})
        return self.router.checked(target, chat)

    def _selectable(self, feature: str, identifier: str) -> bool:
        setting = self.catalogue.features.get(feature)
        if setting is None:
            return False
        return identifier in (setting.default_model, *setting.selectable_models)
