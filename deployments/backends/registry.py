"""Which provider backends a gateway runs: each binds only when it is configured, with its own
slice of the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.provider_slices import fireworks_backend
from core.settings import Config
from deployments.backends.anthropic import AnthropicBackend
from deployments.backends.fireworks import FireworksBackend
from deployments.backends.openai_compat import OpenAICompatBackend
from deployments.backends.vertex import VertexBackend


@dataclass(frozen=True, slots=True)
class Provider:
    """A configured provider: its plain class, deployment name and the settings it is bound
    with (`cls(settings)` in the ingress replica, or `.bind(settings)` as a deployment)."""

    cls: type
    deployment: str
    settings: Any


def configured_providers(settings: Config) -> dict[str, Provider]:
    """Backend key -> Provider, for the providers `settings` enable: Anthropic with a key,
    Vertex with a project (or an explicit endpoint), the OpenAI-compatible client with custom
    models enabled or an OpenAI key / base URL, Fireworks with a key."""
    providers: dict[str, Provider] = {}
    if settings.anthropic_api_key.get_secret_value():
        providers["anthropic"] = Provider(
            AnthropicBackend, "AnthropicBackend", settings.anthropic_backend()
        )
    if settings.vertex_text_model.project:
        providers["vertex"] = Provider(VertexBackend, "VertexBackend", settings.vertex_backend())
    if (
        settings.custom_models.enabled
        or settings.openai_base_url
        or settings.openai_api_key.get_secret_value()
    ):
        providers["openai_compat"] = Provider(
            OpenAICompatBackend, "OpenAICompatBackend", settings.openai_compat_backend()
        )
    if settings.fireworks.api_key.get_secret_value():
        providers["fireworks"] = Provider(
            FireworksBackend, "FireworksBackend", fireworks_backend(settings)
        )
    return providers
