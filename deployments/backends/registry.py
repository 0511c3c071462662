"""Which provider backends a gateway runs: each binds only when it is configured."""

from __future__ import annotations

from core.settings import Config
from deployments.backends.anthropic import AnthropicBackend
from deployments.backends.openai_compat import OpenAICompatBackend
from deployments.backends.vertex import VertexBackend


def configured_providers(settings: Config) -> dict[str, tuple[type, str]]:
    """Backend key -> (plain class, deployment name), for the providers `settings` enable:
    Anthropic with a key, Vertex with a project (or an explicit endpoint), the
    OpenAI-compatible client with custom models enabled or an OpenAI key / base URL."""
    providers: dict[str, tuple[type, str]] = {}
    if settings.anthropic_api_key.get_secret_value():
        providers["anthropic"] = (AnthropicBackend, "AnthropicBackend")
    if settings.vertex_text_model.project:
        providers["vertex"] = (VertexBackend, "VertexBackend")
    if (
        settings.custom_models.enabled
        or settings.openai_base_url
        or settings.openai_api_key.get_secret_value()
    ):
        providers["openai_compat"] = (OpenAICompatBackend, "OpenAICompatBackend")
    return providers
