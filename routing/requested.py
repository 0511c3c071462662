"""Which catalogue model a request asks for by name (API.md §6.1), if any.

GitLab Rails names a self-hosted model in `model_metadata.identifier`, LiteLLM style
(`custom_openai/<served name>`, `text-completion-custom_openai/<served name>`), or a
GitLab-managed one with `provider: gitlab`. The router honours the name only where the
feature allows that model (routing/router.py).
"""

from __future__ import annotations

from typing import Any

PROVIDER_PREFIXES = (
    "text-completion-custom_openai/",
    "custom_openai/",
    "hosted_vllm/",
    "openai/",
)


def requested_model(
    model_metadata: Any = None, model_provider: str | None = None, model_name: str | None = None
) -> str | None:
    identifier = getattr(model_metadata, "identifier", None) if model_metadata else None
    if identifier:
        for prefix in PROVIDER_PREFIXES:
            if identifier.startswith(prefix):
                return identifier[len(prefix) :] or None
        return str(identifier)
    if model_provider == "gitlab" and model_name:
        return model_name
    return None
