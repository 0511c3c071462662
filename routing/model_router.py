"""How a request chooses its model (API.md §1.3, §1.4, §1.6, §1.7, §6): one decision object.

One path for code suggestions, `/v1/chat`, `/v2/chat/agent` and the prompts API. Inputs, most
specific first: a `model_metadata` object; the v2 `model_provider` / `model_name` /
`model_endpoint` / `model_api_key` / `model_identifier` fields (v3/v4: the editor payload's
`model_provider` / `model_name`; `/v1/chat`: its payload's `provider` / `model` / `model_*`);
else the feature's catalogue default.

The selection is checked first (422 with the contract's text). A feature's default is its
default model, else the first fallback whose backend runs; a model the request named is served
as named or not at all (503), never silently swapped for another. Under the mock overlay,
every choice that passes the checks is answered by the catalogue's stand-in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from core.errors import ModelUnavailable, UnprocessableError
from core.mock_models import MOCK_BACKEND, MOCK_TEXT
from core.types import ModelTarget
from deployments.backends.vllm.spec import BACKEND_PREFIX as IN_GRAPH_PREFIX
from routing.catalogue import Catalogue, target_of
from routing.families import FAMILIES, family_of
from routing.resilience.route import Route, key_of
from routing.selection import CUSTOM_ENDPOINT_DISABLED, ModelSelection, not_supported
from routing.self_hosted import self_hosted_target, upstream_model_id


class ModelRouter:
    """Chooses among the catalogue models whose backend deployment is bound (`backends`)."""

    def __init__(
        self, catalogue: Catalogue, backends: Iterable[str], custom_endpoints: bool = False
    ) -> None:
        self.catalogue = catalogue
        self.backends = frozenset(backends)
        self.custom_endpoints = custom_endpoints  # AIGW_CUSTOM_MODELS__ENABLED (SSRF guard)
        self.tables = catalogue.provider_models
        self.stand_in = catalogue.stand_in
        # Every model's target, typed once: a choice builds nothing per request.
        self.targets = {ident: target_of(model) for ident, model in catalogue.models.items()}
        self.keys = {id(target): ident for ident, target in self.targets.items()}
        self._defaulted = False  # the last choice was a feature's default (not the client's)

    def route(
        self,
        feature: str,
        selection: ModelSelection | None = None,
        model_fallbacks: Mapping[str, Sequence[str]] | None = None,
    ) -> Route:
        """The targets that may serve the request, in order: a feature default then the
        feature's fallback models whose backend runs; a model the client named, then only
        what the operator lists for it (`model_fallbacks`), never another model unasked."""
        self._defaulted = False
        first = self.choose(feature, selection)
        if self._defaulted:
            return Route(feature, self._chain(feature, first), explicit=False)
        key = self.keys.get(id(first)) or key_of(first)
        candidates = [(key, first)]
        for ident in (model_fallbacks or {}).get(key, ()):
            target = self.targets.get(ident)
            if target is not None and target.backend in self.backends and target is not first:
                candidates.append((ident, target))
        return Route(feature, candidates, explicit=True)

    def _chain(self, feature: str, first: ModelTarget) -> list[tuple[str, ModelTarget]]:
        """`first` (the feature's default as served) and the configured models after it."""
        if self.stand_in is not None:
            return [(key_of(first), first)]
        setting = self.catalogue.features.get(feature)
        chain = (setting.default_model, *setting.fallback_models) if setting is not None else ()
        out: list[tuple[str, ModelTarget]] = []
        for ident in chain:
            target = self.targets[ident]
            if target.backend not in self.backends:
                continue
            if out and target.backend == MOCK_BACKEND:
                # The echo mock stands in when nothing else is configured; after a real model
                # failed, its echo would be a wrong answer reported as a success.
                continue
            served = MOCK_TEXT if target.backend == MOCK_BACKEND else target
            if out or served is first:
                out.append((ident, served))
        return out or [(key_of(first), first)]

    def choose(self, feature: str, selection: ModelSelection | None = None) -> ModelTarget:
        """The target that serves `feature` for what the request said about its model."""
        if selection is not None and selection.endpoint and not self.custom_endpoints:
            raise UnprocessableError(CUSTOM_ENDPOINT_DISABLED)
        if selection is None or selection.empty:
            return self._default(feature, selection)
        if selection.from_metadata:
            return self._from_metadata(feature, selection)
        return self._from_fields(feature, selection)

    # -- what the request said -----------------------------------------------------------
    def _default(self, feature: str, selection: ModelSelection | None) -> ModelTarget:
        """The default model of the feature setting the request names (one we do not model
        counts as none), else of the feature."""
        setting = selection.feature_setting if selection is not None else None
        known = setting if setting in self.catalogue.features else None
        return self._feature_default(known or feature)

    def _gitlab(self, feature: str, identifier: str, provider: str) -> ModelTarget:
        if not identifier:  # "" = the GitLab default of the feature
            return self._feature_default(feature)
        target = self.targets.get(identifier)
        if target is None:
            raise not_supported(identifier, feature, provider)
        return self._served(target)

    def _from_metadata(self, feature: str, selection: ModelSelection) -> ModelTarget:
        provider = selection.provider or ""
        if provider == "gitlab":
            if selection.identifier:
                return self._gitlab(feature, selection.identifier, provider)
            return self._default(feature, selection)
        if provider == "fireworks_ai":
            return self._served(self._fireworks(selection), f"provider {provider}")
        if provider == "amazon_q":
            return self._served(None, f"provider {provider}")
        return self._self_hosted(feature, selection)

    def _fireworks(self, selection: ModelSelection) -> ModelTarget | None:
        """The Fireworks model a `fireworks_ai` model_metadata names: by its provider model
        (`codestral-2501`, what upstream reads from `name`) or its GitLab identifier."""
        wanted = {selection.name or "", selection.identifier or ""} - {""}
        for ident, target in self.targets.items():
            if target.engine == "fireworks_ai" and wanted & {ident, target.identifier}:
                return target
        return None

    def _from_fields(self, feature: str, selection: ModelSelection) -> ModelTarget:
        provider = selection.provider or ""
        name = selection.name or ""
        if provider == "gitlab":
            return self._gitlab(feature, name, provider)
        if provider in ("litellm", "codestral"):
            if name and name not in FAMILIES:
                raise not_supported(name, feature, provider)
            if name and feature == "code_generations" and not family_of(name).can_generate:
                raise not_supported(name, feature, provider)
            return self._self_hosted(feature, selection)
        if provider == "" and (selection.endpoint or selection.identifier):
            return self._self_hosted(feature, selection)
        if provider == "":
            # The contract checks `model_name` only with a provider (API.md §1.3): a name alone
            # picks the GitLab model it names, and any other name is ignored, as upstream does.
            known = name if name in self.targets else ""
            return self._gitlab(feature, known, "gitlab")
        return self._provider_name(feature, provider, name)

    def _self_hosted(self, feature: str, selection: ModelSelection) -> ModelTarget:
        """A self-hosted model: the vLLM replicas in this graph when the request names one of
        the custom models (docs/custom-models.md), else the caller's OpenAI-compatible server."""
        prefixes = self.tables.litellm_prefixes
        model_id = upstream_model_id(selection.identifier, selection.name or "", prefixes)
        in_graph = self.targets.get(model_id)
        if in_graph is not None and in_graph.backend.startswith(IN_GRAPH_PREFIX):
            return self._served(in_graph)
        if not selection.identifier:
            model_id = selection.name or "general"
        return self._served(self_hosted_target(selection, feature, model_id))

    def _provider_name(self, feature: str, provider: str, name: str) -> ModelTarget:
        """A provider's own model name (configs/provider_models.yml)."""
        table = self.tables.names(provider)
        allowed = table.allowed(feature)
        legacy = table.gitlab_models.get(name)
        if legacy is not None and (name in allowed or self._selectable(feature, legacy)):
            return self._gitlab(feature, legacy, provider)
        if name and name not in allowed:
            # v3/v4 send GitLab identifiers in `model_name`.
            if name in self.targets:
                return self._gitlab(feature, name, provider)
            raise not_supported(name, feature, provider)
        if not name:
            if feature == "code_generations" and table.generation_default is not None:
                return self._gitlab(feature, table.generation_default, provider)
            return self._feature_default(feature)
        if table.direct_base is None:
            return self._served(None, f"model {name} of provider {provider}")
        # An allowed name with no catalogue entry (a Claude model): ask the provider for it.
        base = self.targets[table.direct_base]
        return self._served(base.model_copy(update={"name": name, "identifier": name}))

    def _selectable(self, feature: str, identifier: str) -> bool:
        setting = self.catalogue.features.get(feature)
        if setting is None:
            return False
        return identifier in (setting.default_model, *setting.selectable_models)

    # -- what answers --------------------------------------------------------------------
    def _feature_default(self, feature: str) -> ModelTarget:
        """The feature's default model, else the first fallback whose backend runs."""
        self._defaulted = True
        if self.stand_in is not None:
            return self.stand_in
        setting = self.catalogue.features.get(feature)
        chain = (setting.default_model, *setting.fallback_models) if setting is not None else ()
        for ident in chain:
            target = self.targets[ident]
            if target.backend in self.backends:
                # The catalogue's echo model answers as the mock models do (API.md §4.1).
                return MOCK_TEXT if target.backend == MOCK_BACKEND else target
        raise ModelUnavailable(f"no configured backend serves {feature}")

    def _served(self, target: ModelTarget | None, what: str = "") -> ModelTarget:
        """The model a request named, if its backend runs (`None`: one this gateway has no
        way to serve, `what`): never another one in its place, except the mock stand-in."""
        if self.stand_in is not None:
            return self.stand_in
        if target is None:
            raise ModelUnavailable(f"{what} is not configured on this gateway")
        if target.backend not in self.backends:
            raise ModelUnavailable(f"backend {target.backend} is not configured")
        return target
