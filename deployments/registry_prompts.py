"""Registry prompts as model calls (API.md §1.6, §1.7, §5.3, §5.4): pick the definition, check
the caller may use it, render it and build the ModelRequest. The PromptAssembler runs this,
in the ingress replica or in its own deployment, with the one registry of its process."""

from __future__ import annotations

import datetime

from core import calls
from core.errors import PromptAccessDenied, UnprocessableError
from core.settings import DuoChatSettings
from core.types import AssembledPrompt, Identity, Message, ModelRequest, PromptCall
from deployments.prompts import BadVersionConstraintError, Prompt, PromptRegistry

# Prompts served by their own endpoint (the ReAct agent step), never by `/v1|v2/prompts`.
SPECIALISED_PROMPTS = frozenset({"chat/react"})
FEATURE_OF_PREFIX = {
    "chat": "duo_chat",
    "code_suggestions/completions": "code_completions",
    "code_suggestions/generations": "code_generations",
}


def feature_of(prompt_id: str) -> str:
    """The feature setting whose model serves a prompt (§5.4): `chat/...` is Duo Chat,
    code suggestions by kind, otherwise the first path segment."""
    for prefix, feature in FEATURE_OF_PREFIX.items():
        if prompt_id == prefix or prompt_id.startswith(prefix + "/"):
            return feature
    return prompt_id.split("/", 1)[0]


def today() -> str:
    """`current_date` as upstream passes it: "January 14, 2025"."""
    now = datetime.date.today()
    return f"{now:%B} {now.day}, {now.year}"


def load(registry: PromptRegistry, call: PromptCall, identity: Identity) -> Prompt:
    """The prompt, once the caller is known to hold its unit primitive (else 403)."""
    try:
        prompt = registry.get(call.prompt_id, call.version, call.families)
    except BadVersionConstraintError:
        raise UnprocessableError("Invalid version constraint") from None
    if not identity.can(prompt.unit_primitive):
        message = call.unauthorized or f"Unauthorized to access '{call.prompt_id}'"
        raise PromptAccessDenied(message, prompt.unit_primitive)
    return prompt


def assemble_prompt(
    registry: PromptRegistry, duo_chat: DuoChatSettings, call: PromptCall, identity: Identity
) -> AssembledPrompt:
    """Everything a prompt call does before the model (errors in §1.7's order)."""
    prompt = load(registry, call, identity)
    if call.prompt_id in SPECIALISED_PROMPTS and not call.endpoint_of_its_own:
        raise UnprocessableError(f"Prompt '{call.prompt_id}' is not supported")
    messages = prompt.render({"current_date": today(), **call.inputs})
    messages = [m for m in messages if m.content.strip() or m.role == "user"]
    request = model_request(prompt, call, duo_chat, messages)
    return AssembledPrompt(request=request, unit_primitive=prompt.unit_primitive)


def model_request(
    prompt: Prompt, call: PromptCall, duo_chat: DuoChatSettings, messages: list[Message]
) -> ModelRequest:
    """The call a rendered prompt makes: `Prompt.sampling`, with `AIGW_DUO_CHAT__*` over it
    for `chat/*` prompts."""
    chat = feature_of(prompt.prompt_id) == "duo_chat"
    timeout = prompt.params.timeout or (duo_chat.model_request_timeout if chat else None)
    sampling = prompt.sampling(call.target)
    if chat and duo_chat.max_tokens:
        sampling = sampling.model_copy(update={"max_tokens": duo_chat.max_tokens})
    return calls.model_request(
        call.target,
        kind="chat",
        messages=messages,
        sampling=sampling,
        stop=prompt.params.stop,
        timeout_s=timeout or None,
        stream=call.stream,
        correlation_id=call.correlation_id,
    )
