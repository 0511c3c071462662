"""A self-hosted model a request points at (API.md §6.1): the caller's OpenAI-compatible
server, asked for the model its LiteLLM-style identifier names, with its family's limits."""

from __future__ import annotations

from pydantic import SecretStr

from core.errors import UnprocessableError
from core.types import ModelTarget, Sampling
from routing.families import family_of
from routing.provider_models import LiteLLMPrefixes
from routing.selection import ModelSelection

OPENAI_COMPAT = "openai_compat"
SELF_HOSTED_ENGINE = "litellm"


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
    """The caller's server asked for `model_id`; the family (`selection.name`) sets the stop
    sequences, the input token limit and the output budget of the feature."""
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
