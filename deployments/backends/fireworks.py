"""FireworksBackend: the GitLab-managed Codestral models on Fireworks AI (API.md §6.4).

Fireworks speaks OpenAI's protocol, so this is the OpenAI-compatible backend's lean HTTP client
(`openai_http`, `openai_sse`: the `openai` SDK's wire without its per-call cost) pointed at
`AIGW_FIREWORKS__BASE_URL` with the gateway's own key: completions go to `/completions` (the
model's fill-in-the-middle format, Codestral's is suffix-first), chat to `/chat/completions`.
As upstream, a completion asks for `logprobs=1` and reports its first token's logprob as the
result's `score` (the `filter_score` post-processor reads it), and prompt caching is on
unless the client's `X-Gitlab-Model-Prompt-Cache-Enabled` or the operator's
`AIGW_FIREWORKS__PROMPT_CACHE=false` turns it off. A completion carries the caller's global user id
as `x-session-affinity` (upstream's session header), so Fireworks keeps one user's requests on
the replica that caches their prompt. The `fireworks-ai` SDK is not used: it wraps the same
HTTP API and would bring a second client stack for nothing these calls need.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from core.provider_slices import FireworksBackendSettings
from core.types import Chunk, ModelRequest, ModelResult
from deployments.backends.common import (
    Deadlines,
    guarded,
    max_tokens,
    stop_sequences,
)
from deployments.backends.openai_compat import chunks_of, map_error, result_of
from deployments.backends.openai_http import Endpoint, post_json
from deployments.backends.openai_sse import events

PROVIDER = "fireworks"
DEFAULT_MAX_TOKENS = 64
SERVERLESS_PREFIX = "accounts/fireworks/models/"
MAX_STOPS = 4  # Fireworks, like OpenAI, takes at most four stop sequences


def first_token_logprob(choice: Any) -> float | None:
    """The logprob of the answer's first token (in the answer's parsed JSON): OpenAI's legacy
    `token_logprobs` list, which Fireworks' completions answer, or the newer `content`
    entries."""
    logprobs = choice.get("logprobs") if isinstance(choice, dict) else None
    if not isinstance(logprobs, dict):
        return None
    values = logprobs.get("token_logprobs")
    if values and isinstance(values, list):
        first = values[0]
        return float(first) if isinstance(first, int | float) else None
    content = logprobs.get("content")
    if content and isinstance(content, list) and isinstance(content[0], dict):
        value = content[0].get("logprob")
        return float(value) if isinstance(value, int | float) else None
    return None


class FireworksBackend:
    """Plain class; Ray serves it as the `FireworksBackend` deployment."""

    def __init__(self, settings: FireworksBackendSettings) -> None:
        self.timeouts = settings.timeouts
        self.answer_limits = settings.answer_limits
        self.models = dict(settings.models)
        self.prompt_cache = settings.prompt_cache
        self.base_url = settings.base_url.rstrip("/")
        self._endpoint: Endpoint | None = None  # made in the serving loop, on first use
        self.headers = {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"}

    def endpoint(self) -> Endpoint:
        if self._endpoint is None:
            self._endpoint = Endpoint(self.base_url)
        return self._endpoint

    def model_of(self, request: ModelRequest) -> str:
        """The Fireworks model or deployment of a provider model (`codestral-2501`)."""
        name = request.target.identifier or request.target.name
        return self.models.get(name) or (
            name if name.startswith("accounts/") else SERVERLESS_PREFIX + name
        )

    def _call(
        self, request: ModelRequest, streaming: bool
    ) -> tuple[str, dict[str, Any], dict[str, str], Deadlines]:
        """The call's path, wire body, extra headers and deadlines."""
        deadlines = Deadlines.of(
            request,
            self.timeouts.first_byte_s,
            self.timeouts.total_s,
            limits=self.answer_limits,
            max_tokens=DEFAULT_MAX_TOKENS,
        )
        chat = request.kind == "chat"
        # Keys in the order the SDK sent them: the same bytes on the wire either way.
        body: dict[str, Any] = {"model": self.model_of(request)}
        if streaming:
            body["stream"] = True
        if chat:
            body["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
        else:
            fim_format = request.target.completion.fim_format
            if fim_format:
                body["prompt"] = fim_format.format(prefix=request.prefix, suffix=request.suffix)
            else:
                body["prompt"] = request.prefix
            if not streaming:
                body["logprobs"] = 1
        body["max_tokens"] = max_tokens(request, DEFAULT_MAX_TOKENS)
        stops = stop_sequences(request, MAX_STOPS)
        if stops:
            body["stop"] = stops
        if streaming:
            body["stream_options"] = {"include_usage": True}
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if not (self.prompt_cache and request.prompt_cache):
            body["prompt_cache_max_len"] = 0
        headers = dict(self.headers)
        if not chat and request.session_affinity:
            headers["x-session-affinity"] = request.session_affinity
        return ("/chat/completions" if chat else "/completions"), body, headers, deadlines

    async def check(self) -> bool:
        return True  # a key is configured; Fireworks has no cheap authenticated probe

    async def generate(self, request: ModelRequest) -> ModelResult:
        path, body, headers, deadlines = self._call(request, streaming=False)
        try:
            answer = await post_json(self.endpoint(), path, body, headers, deadlines, PROVIDER)
        except Exception as exc:
            raise map_error(exc, PROVIDER) from None
        chat = request.kind == "chat"
        choices = answer.get("choices") if isinstance(answer, dict) else None
        first = choices[0] if isinstance(choices, list) and choices else None
        score = None if chat else first_token_logprob(first)
        return result_of(answer, chat, PROVIDER, score)

    async def stream(self, request: ModelRequest) -> AsyncIterator[Chunk]:
        path, body, headers, deadlines = self._call(request, streaming=True)
        wire = events(self.endpoint(), path, body, headers, deadlines, PROVIDER)
        try:
            chunks = chunks_of(wire, request.kind == "chat", PROVIDER)
            async for chunk in guarded(chunks, deadlines, PROVIDER):
                yield chunk
        except Exception as exc:
            raise map_error(exc, PROVIDER) from None
