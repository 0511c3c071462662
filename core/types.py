"""The small types that cross DeploymentHandles (DESIGN.md rule 4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

Role = Literal["system", "user", "assistant"]


class Identity(BaseModel):
    """Who is calling, as Auth established it from the request's headers."""

    model_config = ConfigDict(frozen=True)

    bypass: bool = False  # debug user from a bypass flag: every unit primitive allowed
    issuer: str = ""
    subject: str = ""
    realm: str = ""
    instance_id: str = ""
    instance_uid: str = ""
    global_user_id: str = ""
    scopes: tuple[str, ...] = ()
    duo_seat_count: str = ""
    key_id: str = ""
    expires_at: int = 0
    extra: dict[str, Any] = Field(default_factory=dict)

    def can(self, unit_primitive: str, disallowed_issuers: Sequence[str] = ()) -> bool:
        if self.bypass:
            return True
        return self.issuer not in disallowed_issuers and unit_primitive in self.scopes


class Message(BaseModel):
    role: Role
    content: str


class Sampling(BaseModel):
    """max_tokens, temperature, top_p and top_k at one layer: a model's defaults, a prompt
    file's values or a call's own; None is "not set here"."""

    model_config = ConfigDict(frozen=True)

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None

    def over(self, defaults: Sampling) -> Sampling:
        """These values, each one unset here taken from `defaults`."""
        update = {}
        for name in SAMPLING_FIELDS:  # by name: iterating a model costs ~10x more (hot path)
            if getattr(self, name) is None:
                value = getattr(defaults, name)
                if value is not None:
                    update[name] = value
        return self.model_copy(update=update) if update else self


SAMPLING_FIELDS = ("max_tokens", "temperature", "top_p", "top_k")


class Timeouts(BaseModel):
    """Deadlines of a model call in seconds; None is the backend's configured one."""

    model_config = ConfigDict(frozen=True)

    total_s: float | None = None
    first_byte_s: float | None = None
    # The routing policy's (routing/resilience): connect and inter-chunk stall deadlines, and
    # ceilings over the two above (a request's total deadline left, a feature's first-byte SLO).
    connect_s: float | None = None
    stall_s: float | None = None
    max_total_s: float | None = None
    max_first_byte_s: float | None = None


class CompletionStyle(BaseModel):
    """How a code completion reaches a model (API.md §6.3 `completion_type`, `fim_format`)."""

    model_config = ConfigDict(frozen=True)

    # fim: prefix and suffix as such; text: the rendered prompt as one text; chat: the
    # rendered messages (a model with no fill-in-the-middle mode, e.g. Claude).
    type: Literal["fim", "text", "chat"] = "fim"
    # Prefix and suffix laid out in one prompt, for a server with no `suffix` field.
    fim_format: str | None = None
    # The share of the input token budget that open code context may take (API.md §7.3).
    context_max_percent: float = 1.0


class MockMode(BaseModel):
    """How the mock backend answers a target (API.md §4): the echo of a legacy model, the
    fixed `mock` of a registry prompt's model, or the agentic mock's scripted turns."""

    model_config = ConfigDict(frozen=True)

    answer: Literal["echo", "fake", "agentic"] = "echo"
    use_last_human_message: bool = True  # agentic: the script is in the last human message
    # Mock mode's echo only: what a registry prompt's call gets instead (core/mock_models.py).
    prompts: Literal["fake", "agentic"] | None = None


class ModelTarget(BaseModel):
    """Which backend serves a request, what the response reports as the model, and the
    model's own call parameters (typed once, when the catalogue loads)."""

    model_config = ConfigDict(frozen=True)

    backend: str  # key of the backend deployment ("mock", "local", "anthropic", ...)
    engine: str  # reported as model.engine
    name: str  # reported as model.name
    identifier: str = ""  # model id sent to the provider
    family: tuple[str, ...] = ("base",)
    max_input_tokens: int = 2048
    # The context window also holds the answer (llama.cpp): prompts keep room for max_tokens.
    context_window_includes_output: bool = False
    endpoint: str | None = None
    api_key: SecretStr | None = None
    sampling: Sampling = Sampling()  # the model's defaults
    pinned_sampling: bool = False  # they win over a prompt file's (an operator's custom model)
    stop: tuple[str, ...] = ()  # the model's own stop sequences, sent after a call's
    timeouts: Timeouts = Timeouts()  # over the backend's configured deadlines
    completion: CompletionStyle = CompletionStyle()
    mock: MockMode | None = None  # set on the mock models only (core/mock_models.py)


class ModelRequest(BaseModel):
    """A provider-neutral model call, built by the PromptAssembler or a chat flow with
    `core.calls.model_request`, which resolves every parameter a backend reads: stop
    sequences, sampling and deadlines are the call's, never looked up again on the target."""

    target: ModelTarget
    kind: Literal["completion", "chat"] = "completion"
    prefix: str = ""  # completion: the text before the cursor (or the whole prompt)
    suffix: str = ""  # completion: the text after the cursor, for fill-in-the-middle
    messages: list[Message] = Field(default_factory=list)  # chat
    stop: list[str] = Field(default_factory=list)  # the call's, then the model's own
    max_tokens: int | None = None  # None: the provider's default
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    timeouts: Timeouts = Timeouts()  # None: the backend's configured deadline
    stream: bool = False
    correlation_id: str = ""
    # The caller's prompt-caching hint (`X-Gitlab-Model-Prompt-Cache-Enabled`): a backend whose
    # provider caches prompts (Fireworks) turns its cache off for the call when false.
    prompt_cache: bool = True
    # The caller's `X-Gitlab-Global-User-Id` (completions): Fireworks gets it as
    # `x-session-affinity`, so one user's requests reach the replica holding their prompt cache.
    session_affinity: str = ""


class ToolCall(BaseModel):
    """A tool the model asked to call (the agentic mock's `<tool_calls>`, tool-using models)."""

    id: str
    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class ModelResult(BaseModel):
    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str = "length"
    tool_calls: list[ToolCall] = Field(default_factory=list)
    score: float | None = None  # Fireworks: the first token's logprob (`filter_score`)


@dataclass(slots=True)
class ToolCallChunk:
    """A piece of a streamed tool call: `args` is a slice of the JSON text of its arguments,
    and the first piece of a call also carries its id and name. The pieces with one `index`
    (the call's place in the answer), joined in order, are the call
    (`deployments.tool_calls.ToolCallAssembler`)."""

    index: int
    args: str = ""
    id: str = ""
    name: str = ""


@dataclass(slots=True)
class Chunk:
    """One piece of a streamed answer; the last chunk may carry token counts, and a chunk why
    the model stopped (`finish_reason`, where the engine says). Tool calls come whole
    (`tool_calls`) or in pieces (`tool_call_chunks`)."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    final: bool = False
    finish_reason: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_chunks: list[ToolCallChunk] = field(default_factory=list)


class ContextSnippet(BaseModel):
    type: str = "file"
    name: str = ""
    content: str = ""


class SuggestionInput(BaseModel):
    """What the ingress hands the PromptAssembler for a code suggestion."""

    feature: Literal["code_completions", "code_generations"]
    file_name: str
    language_identifier: str | None = None
    content_above_cursor: str = ""
    content_below_cursor: str = ""
    context: list[ContextSnippet] = Field(default_factory=list)
    raw_prompt: str | None = None  # caller-built prompt text (v2 prompt_version 2, v3 prompt)
    raw_messages: list[Message] | None = None  # caller-built messages (prompt_version 3)
    prompt_id: str | None = None
    prompt_version: str = "^1.0.0"
    prompt_enhancer: dict[str, Any] = Field(default_factory=dict)
    stream: bool = False
    model_provider: str | None = None  # as the caller sent it: post-processing keys on it
    prompt_cache: bool = True  # `X-Gitlab-Model-Prompt-Cache-Enabled` (completions, §1.3)
    session_affinity: str = ""  # `X-Gitlab-Global-User-Id` (completions): `ModelRequest`'s


class TokenUsage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    max_output_tokens_used: bool = False
    context_tokens_sent: int = 0
    context_tokens_used: int = 0


class AssembledSuggestion(BaseModel):
    """The PromptAssembler's answer: the model call plus what the response must report."""

    request: ModelRequest
    lang: str = ""
    language_name: str = ""
    extension: str = ""
    usage: TokenUsage = Field(default_factory=TokenUsage)
    unit_primitive: str = ""  # the registry prompt's unit primitive; the caller must hold it


class PublicJwk(BaseModel):
    """One public signing key and the source it came from (`local`, `Gitlab`, `CustomersDot`)."""

    model_config = ConfigDict(frozen=True)

    source: str
    jwk: dict[str, Any]  # public members only (kty, kid, n, e, ...): never a private key


class KeySetSnapshot(BaseModel):
    """The merged key set Auth holds; the ingress verifies signatures with it (rule 5)."""

    keys: tuple[PublicJwk, ...] = ()


class UserTokenGrant(BaseModel):
    """What a minted user access token says (API.md §1.5), decided before signing."""

    subject: str  # the global user id
    realm: str
    instance_id: str
    instance_uid: str = ""
    scopes: tuple[str, ...] = ()
    duo_seat_count: str = ""
    extra: dict[str, str] = Field(default_factory=dict)


class UserAccessToken(BaseModel):
    token: str
    expires_at: int


class AuthStats(BaseModel):
    key_set_requests: int = 0  # key sets handed out (one per ingress refresh)
    source_fetches: int = 0  # fetches of the gateway's own keys and the OIDC issuers
    tokens_verified: int = 0  # tokens Auth verified itself (in-process placement)


class FinishedSuggestion(BaseModel):
    """A non-streamed suggestion after post-processing, with the usage the response reports."""

    text: str
    usage: TokenUsage


class PromptCall(BaseModel):
    """A registry prompt the ingress wants as a model call (`/v1|v2/prompts`, the chat agent):
    the PromptAssembler picks the definition, checks the caller may use it and renders it."""

    prompt_id: str
    version: str | None = None  # a Poetry constraint; None = ^1.0.0
    families: tuple[str, ...] = ()  # tried in order, then `base`
    inputs: dict[str, Any] = Field(default_factory=dict)
    target: ModelTarget
    stream: bool = False
    correlation_id: str = ""
    unauthorized: str | None = None  # the 403 text; default "Unauthorized to access '<id>'"
    endpoint_of_its_own: bool = False  # the caller is the endpoint of a specialised prompt


class AssembledPrompt(BaseModel):
    request: ModelRequest
    unit_primitive: str  # the caller held it
