"""Registry prompts as model calls: pick the prompt for the model, check the caller may use
it, render it and build the ModelRequest (API.md §1.7, §5.3, §5.4)."""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core import calls
from core.errors import AuthorizationError, UnprocessableError
from core.mock_models import answering
from core.types import Identity, Message, ModelRequest, ModelTarget
from deployments.prompts import BadVersionConstraintError, Prompt, PromptRegistry
from observability import record as request_record
from serve_app.api.schemas.common import ModelMetadata
from serve_app.gateway import Gateway

# Prompts served by their own endpoint (the ReAct agent step), never by `/v1|v2/prompts`.
SPECIALISED_PROMPTS = frozenset({"chat/react"})
FEATURE_OF_PREFIX = {
    "chat": "duo_chat",
    "code_suggestions/completions": "code_completions",
    "code_suggestions/generations": "code_generations",
}
DEFAULT_FEATURE = "duo_chat"


@functools.lru_cache(maxsize=1)
def shared_registry() -> PromptRegistry:
    """The shipped definitions, loaded and validated once per process (replica start)."""
    return PromptRegistry()


def feature_of(prompt_id: str) -> str:
    """The feature setting whose model serves a prompt (§5.4): `chat/...` is Duo Chat,
    code suggestions by kind, otherwise the first path segment."""
    for prefix, feature in FEATURE_OF_PREFIX.items():
        if prompt_id == prefix or prompt_id.startswith(prefix + "/"):
            return feature
    return prompt_id.split("/", 1)[0]


def target_for(
    gateway: Gateway, prompt_id: str, metadata: ModelMetadata | None = None
) -> ModelTarget:
    """The model that answers a registry prompt: the one `model_metadata` names, else the
    feature's default; in mock mode, `mock` or the agentic mock (after the same checks)."""
    feature = feature_of(prompt_id)
    if feature not in gateway.catalogue.features:
        feature = DEFAULT_FEATURE
    selection = metadata.selection() if metadata is not None else None
    return answering(gateway.choose(feature, selection), "prompt")


def families_for(target: ModelTarget, metadata: ModelMetadata | None) -> tuple[str, ...]:
    """Prompt families to try in order: a self-hosted model's family name first (§5.4)."""
    families = list(target.family)
    if metadata is not None and metadata.name and metadata.provider != "gitlab":
        families.insert(0, metadata.name)
    return tuple(dict.fromkeys(f for f in families if f))


def load(
    registry: PromptRegistry,
    prompt_id: str,
    version: str | None,
    families: tuple[str, ...],
    identity: Identity,
    unauthorized: str | None = None,
) -> Prompt:
    """The prompt, once the caller is known to hold its unit primitive (else 403)."""
    try:
        prompt = registry.get(prompt_id, version, families)
    except BadVersionConstraintError:
        raise UnprocessableError("Invalid version constraint") from None
    record = request_record.current()
    if record is not None:  # metrics labels and the `request_<up>` internal event (§5.4)
        record.authorized(prompt.unit_primitive)
    if not identity.can(prompt.unit_primitive):
        raise AuthorizationError(unauthorized or f"Unauthorized to access '{prompt_id}'")
    return prompt


def today() -> str:
    """`current_date` as upstream passes it: "January 14, 2025"."""
    now = datetime.date.today()
    return f"{now:%B} {now.day}, {now.year}"


def model_request(
    gateway: Gateway,
    prompt: Prompt,
    target: ModelTarget,
    messages: list[Message],
    stream: bool,
    correlation_id: str = "",
) -> ModelRequest:
    """The call a rendered prompt makes: `Prompt.sampling`, with `AIGW_DUO_CHAT__*` over it
    for `chat/*` prompts."""
    settings = gateway.settings
    chat = feature_of(prompt.prompt_id) == "duo_chat"
    timeout = prompt.params.timeout or (settings.duo_chat.model_request_timeout if chat else None)
    sampling = prompt.sampling(target)
    if chat and settings.duo_chat.max_tokens:
        sampling = sampling.model_copy(update={"max_tokens": settings.duo_chat.max_tokens})
    return calls.model_request(
        target,
        kind="chat",
        messages=[m for m in messages if m.content.strip() or m.role == "user"],
        sampling=sampling,
        stop=prompt.params.stop,
        timeout_s=timeout or None,
        stream=stream,
        correlation_id=correlation_id,
    )


@dataclass(frozen=True, slots=True)
class PreparedCall:
    prompt: Prompt
    request: ModelRequest


def prepare(
    gateway: Gateway,
    registry: PromptRegistry,
    identity: Identity,
    prompt_id: str,
    *,
    version: str | None,
    inputs: Mapping[str, Any],
    metadata: ModelMetadata | None,
    stream: bool,
    correlation_id: str = "",
) -> PreparedCall:
    """Everything `/v1|v2/prompts` does before calling the model (errors in §1.7's order)."""
    target = target_for(gateway, prompt_id, metadata)
    prompt = load(registry, prompt_id, version, families_for(target, metadata), identity)
    if prompt_id in SPECIALISED_PROMPTS:
        raise UnprocessableError(f"Prompt '{prompt_id}' is not supported")
    messages = prompt.render({"current_date": today(), **inputs})
    request = model_request(gateway, prompt, target, messages, stream, correlation_id)
    return PreparedCall(prompt=prompt, request=request)
