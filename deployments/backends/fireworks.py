"""FireworksBackend: the GitLab-managed Codestral models on Fireworks AI (API.md §6.4).

Fireworks speaks OpenAI's protocol, so this is the `openai` SDK pointed at
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

import openai

from core.provider_slices import FireworksBackendSettings
from core.types import Chunk, ModelRequest, ModelResult
from deployments.backends.common import (
    Deadlines,
    event_hooks,
    guarded,
    max_tokens,
    stop_sequences,
    within,
)
from deployments.backends.openai_compat import chunks_of, map_error, result_of

PROVIDER = "fireworks"
DEFAULT_MAX_TOKENS = 64
SERVERLESS_PREFIX = "accounts/fireworks/models/"
MAX_STOPS = 4  # Fireworks, like OpenAI, takes at most four stop sequences


def first_token_logprob(choice: Any) -> float | None:
    """The logprob of the answer's first token: OpenAI's legacy `token_logprobs` list, which
    Fireworks' completions answer, or the newer `content` entries."""
    logprobs = getattr(choice, "logprobs", None)
    if logprobs is None:
        return None
    values = getattr(logprobs, "token_logprobs", None)
    if values:
        first = values[0]
        return float(first) if isinstance(first, int | float) else None
    content = getattr(logprobs, "content", None) or (logprobs.model_extra or {}).get("content")
    if content:
        entry = content[0]
        value = entry.get("logprob") if isinstance(entry, dict) else entry.logprob
        return float(value) if isinstance(value, int | float) else None
    return None


class FireworksBackend:
    """Plain class; Ray serves it as the `FireworksBackend` deployment."""

    def __init__(self, settings: FireworksBackendSettings) -> None:
        self.timeouts = settings.timeouts
        self.answer_limits = settings.answer_limits
        self.models = dict(settings.models)
        self.prompt_cache = settings.prompt_cache
        self.client = openai.AsyncOpenAI(
            api_key=settings.api_key.get_secret_value(),
            base_url=settings.base_url.rstrip("/"),
            max_retries=0,
            http_client=openai.DefaultAioHttpClient(event_hooks=event_hooks()),
        )

    def model_of(self, request: ModelRequest) -> str:
        """The Fireworks model or deployment of a provider model (`codestral-2501`)."""
        name = request.target.identifier or request.target.name
        return self.models.get(name) or (
            name if name.startswith("accounts/") else SERVERLESS_PREFIX + name
        )

    def _call(
        self, request: ModelRequest, streaming: bool
    ) -> tuple[Any, dict[str, Any], Deadlines]:
        deadlines = Deadlines.of(
            request,
            self.timeouts.first_byte_s,
            self.timeouts.total_s,
            limits=self.answer_limits,
            max_tokens=DEFAULT_MAX_TOKENS,
        )
        params: dict[str, Any] = {
            "model": self.model_of(request),
            "max_tokens": max_tokens(request, DEFAULT_MAX_TOKENS),
            "timeout": deadlines.http_timeout(streaming),
        }
        if not (self.prompt_cache and request.prompt_cache):
            params["extra_body"] = {"prompt_cache_max_len": 0}
        stops = stop_sequences(request, MAX_STOPS)
        if stops:
            params["stop"] = stops
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.top_p is not None:
            params["top_p"] = request.top_p
        if request.kind == "chat":
            params["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
            return self.client.chat.completions, params, deadlines
        fim_format = request.target.completion.fim_format
        if fim_format:
            params["prompt"] = fim_format.format(prefix=request.prefix, suffix=request.suffix)
        else:
            params["prompt"] = request.prefix
        if not streaming:
            params["logprobs"] = 1
        if request.session_affinity:
            params["extra_headers"] = {"x-session-affinity": request.session_affinity}
        return self.client.completions, params, deadlines

    async def check(self) -> bool:
        return True  # a key is configured; Fireworks has no cheap authenticated probe

    async def generate(self, request: ModelRequest) -> ModelResult:
        api, params, deadlines = self._call(request, streaming=False)
        try:
            response = await within(api.create(**params), deadlines, PROVIDER)
        except Exception as exc:
            raise map_error(exc, PROVIDER) from None
        chat = request.kind == "chat"
        score = None if chat or not response.choices else first_token_logprob(response.choices[0])
        return result_of(response, chat, PROVIDER, score)

    async def stream(self, request: ModelRequest) -> AsyncIterator[Chunk]:
        api, params, deadlines = self._call(request, streaming=True)
        try:
            chunks = chunks_of(api, params, request.kind == "chat", PROVIDER)
            async for chunk in guarded(chunks, deadlines, PROVIDER):
                yield chunk
        except Exception as exc:
            raise map_error(exc, PROVIDER) from None
