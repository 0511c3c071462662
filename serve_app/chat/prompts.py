"""Registry prompts as model calls (API.md §1.7, §5.3, §5.4): the ingress chooses the model and
the prompt families to try; the PromptAssembler picks the definition, checks the caller may use
it and renders it (deployments/registry_prompts.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.errors import PromptAccessDenied
from core.mock_models import answering
from core.types import AssembledPrompt, Identity, ModelRequest, ModelTarget, PromptCall
from deployments.registry_prompts import feature_of
from observability.record import RequestRecord
from serve_app.api.common import ModelMetadata
from serve_app.gateway import Gateway

DEFAULT_FEATURE = "duo_chat"


def target_for(
    gateway: Gateway, prompt_id: str, metadata: ModelMetadata | None = None
) -> ModelTarget:
    """The model that answers a registry prompt: the one `model_metadata` names, else the
    feature's default; in mock mode, `mock` or the agentic mock (after the same checks)."""
    feature = feature_of(prompt_id)
    if not gateway.serves_feature(feature):
        feature = DEFAULT_FEATURE
    selection = metadata.selection() if metadata is not None else None
    return answering(gateway.choose(feature, selection), "prompt")


def families_for(target: ModelTarget, metadata: ModelMetadata | None) -> tuple[str, ...]:
    """Prompt families to try in order: a self-hosted model's family name first (§5.4)."""
    families = list(target.family)
    if metadata is not None and metadata.name and metadata.provider != "gitlab":
        families.insert(0, metadata.name)
    return tuple(dict.fromkeys(f for f in families if f))


async def prepare(
    gateway: Gateway,
    identity: Identity,
    prompt_id: str,
    *,
    version: str | None,
    inputs: Mapping[str, Any],
    metadata: ModelMetadata | None,
    stream: bool,
    correlation_id: str = "",
    unauthorized: str | None = None,
    endpoint_of_its_own: bool = False,
    record: RequestRecord | None = None,
) -> AssembledPrompt:
    """Everything a prompt call does before the model (errors in §1.7's order)."""
    target = target_for(gateway, prompt_id, metadata)
    call = PromptCall(
        prompt_id=prompt_id,
        version=version,
        families=families_for(target, metadata),
        inputs=dict(inputs),
        target=target,
        stream=stream,
        correlation_id=correlation_id,
        unauthorized=unauthorized,
        endpoint_of_its_own=endpoint_of_its_own,
    )

    async def for_fallback(other: ModelTarget) -> tuple[ModelRequest, AssembledPrompt]:
        # The registry picks a definition per model family: Claude's prompt (its tools, its
        # tags) is not what the embedded model answers, nor are its stops and sampling.
        update = {"target": other, "families": families_for(other, metadata)}
        rebuilt = await gateway.assemble_prompt(call.model_copy(update=update), identity)
        return rebuilt.request, rebuilt

    gateway.on_fallback(target, for_fallback)
    try:
        assembled = await gateway.assemble_prompt(call, identity)
    except PromptAccessDenied as exc:
        if record is not None:  # metrics labels and the access log name what was refused
            record.authorized(exc.unit_primitive)
        raise
    if record is not None:  # metrics labels and the `request_<up>` internal event (§5.4)
        record.authorized(assembled.unit_primitive)
    return assembled
