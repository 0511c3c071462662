"""Which model answers a chat or registry prompt when the request names one (API.md §6.1):
`model_metadata` for prompts and the agent, `provider`/`model` for `/v1/chat`."""

from __future__ import annotations

from pydantic import SecretStr

from deployments.errors import ModelUnavailable, UnprocessableError
from deployments.types import ModelTarget
from routing.router import MOCK_CHAT, target_of
from serve_app.api.schemas.common import ModelMetadata
from serve_app.gateway import Gateway

SELF_HOSTED_BACKEND = "openai_compat"
SELF_HOSTED_ENGINE = "litellm"
CUSTOM_ENDPOINT_DISABLED = "specifying custom models endpoint is disabled"


def catalogue_target(gateway: Gateway, identifier: str) -> ModelTarget:
    """A GitLab-managed model the user picked: that model or an error, never another one."""
    model = gateway.catalogue.model(identifier)
    if model is None:
        raise UnprocessableError(f"model {identifier} is not supported")
    if model.backend == "mock" or gateway.settings.mock_model_responses:
        return MOCK_CHAT
    if model.backend not in gateway.backends:
        raise ModelUnavailable(f"backend {model.backend} is not configured")
    return target_of(model)


def self_hosted_target(
    gateway: Gateway,
    *,
    name: str | None,
    endpoint: str | None,
    api_key: str | None,
    identifier: str | None,
) -> ModelTarget:
    """A customer's own OpenAI-compatible endpoint (only with AIGW_CUSTOM_MODELS__ENABLED)."""
    if endpoint and not gateway.settings.custom_models.enabled:
        raise UnprocessableError(CUSTOM_ENDPOINT_DISABLED)
    if gateway.settings.mock_model_responses:
        return MOCK_CHAT
    if SELF_HOSTED_BACKEND not in gateway.backends:
        raise ModelUnavailable("no self-hosted model backend is configured")
    model_id = identifier or name or ""
    return ModelTarget(
        backend=SELF_HOSTED_BACKEND,
        engine=SELF_HOSTED_ENGINE,
        name=name or model_id,
        identifier=model_id,
        family=(name,) if name else ("base",),
        endpoint=(endpoint or "").rstrip("/") or None,
        api_key=SecretStr(api_key) if api_key else None,
    )


def from_metadata(gateway: Gateway, feature: str, metadata: ModelMetadata) -> ModelTarget | None:
    """The target `model_metadata` asks for; None when it only names a family to prefer."""
    if metadata.provider == "gitlab":
        if metadata.identifier:
            return catalogue_target(gateway, metadata.identifier)
        setting = metadata.feature_setting
        if setting and setting in gateway.catalogue.features and not gateway.router.mock_mode:
            return gateway.router.target_for(setting, chat=True)
        return None
    if metadata.endpoint or metadata.identifier:
        return self_hosted_target(
            gateway,
            name=metadata.name,
            endpoint=metadata.endpoint,
            api_key=metadata.api_key,
            identifier=metadata.identifier,
        )
    return None


def model_named(gateway: Gateway, name: str | None) -> str | None:
    """The catalogue identifier of a model a `/v1/chat` caller names by provider model id."""
    if not name:
        return None
    for model in gateway.catalogue.models.values():
        if name in (model.identifier, model.provider_model):
            return model.identifier
    return None
