"""OpenAICompatBackend: any OpenAI-compatible server (vLLM, Ollama, llama.cpp's server, a
customer's self-hosted endpoint).

Chat requests use `/v1/chat/completions`; completion (FIM) requests the legacy
`/v1/completions`. The endpoint, key and model come per request from the target; connections
are pooled per endpoint in each replica and the key travels as a per-request header, so no
connection pool is ever built for a single request. Calls go over plain pooled aiohttp
(`openai_http`, `openai_sse`), not the `openai` SDK: its per-call cost was most of this path's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from core.errors import BadRequestError, GatewayError, ModelError
from core.settings import OpenAICompatBackendSettings
from core.types import Chunk, ModelRequest, ModelResult
from deployments.backends.common import (
    Deadlines,
    guarded,
    max_tokens,
    stop_sequences,
    unexpected,
    usage_int,
)
from deployments.backends.openai_http import EndpointPool, post_json
from deployments.backends.openai_sse import events

DEFAULT_MAX_TOKENS = 256
MAX_POOLED_ENDPOINTS = 64
NO_KEY = "dummy_key"  # what upstream sends a keyless custom_openai endpoint
PROVIDER = "openai-compatible"


def map_error(exc: Exception, provider: str = PROVIDER) -> GatewayError:
    """A call's failure as our error (this backend's, and Fireworks'): `openai_http` raises
    ours already; anything else (a body that is not JSON, say) is unexpected."""
    if isinstance(exc, GatewayError):
        return exc
    return unexpected(provider, exc)


def result_of(
    answer: Any, chat: bool, provider: str = PROVIDER, score: float | None = None
) -> ModelResult:
    """A non-streamed completions / chat completions answer (its parsed JSON) as our result."""
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise ModelError(f"{provider} answered no choices")
    choice = choices[0]
    if chat:
        message = choice.get("message")
        text = message.get("content") if isinstance(message, dict) else None
    else:
        text = choice.get("text")
    usage = answer.get("usage")
    if not isinstance(usage, dict):
        usage = {}
    return ModelResult(
        text=text if isinstance(text, str) else "",
        input_tokens=usage_int(usage.get("prompt_tokens")),
        output_tokens=usage_int(usage.get("completion_tokens")),
        finish_reason=choice.get("finish_reason") or "length",
        score=score,
    )


async def chunks_of(
    events: AsyncIterator[Any], chat: bool, provider: str = PROVIDER
) -> AsyncIterator[Chunk]:
    """A streamed answer's events (their parsed JSON) as our chunks; a stream that ends
    without a finish_reason fails."""
    finished = False
    input_tokens = output_tokens = 0
    try:
        async for event in events:
            if not isinstance(event, dict):
                continue
            usage = event.get("usage")
            if isinstance(usage, dict):
                input_tokens = usage_int(usage.get("prompt_tokens"))
                output_tokens = usage_int(usage.get("completion_tokens"))
            for choice in event.get("choices") or ():
                if not isinstance(choice, dict):
                    continue
                if chat:
                    delta = choice.get("delta")
                    text = delta.get("content") if isinstance(delta, dict) else None
                else:
                    text = choice.get("text")
                if text and isinstance(text, str):
                    yield Chunk(text=text)
                if choice.get("finish_reason"):
                    finished = True
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
    if not finished:  # the server hung up before saying why it stopped: not a clean end
        raise ModelError(f"{provider} stream ended before a finish_reason")
    yield Chunk(text="", input_tokens=input_tokens, output_tokens=output_tokens, final=True)


class OpenAICompatBackend:
    """Plain class; Ray serves it as the `OpenAICompatBackend` deployment."""

    def __init__(self, settings: OpenAICompatBackendSettings) -> None:
        self.timeouts = settings.timeouts
        self.answer_limits = settings.answer_limits
        self.extra_headers = dict(settings.extra_headers)
        self.disable_streaming = settings.disable_streaming
        self.default_endpoint = settings.base_url
        self.default_key = settings.api_key.get_secret_value()
        self._clients = EndpointPool(MAX_POOLED_ENDPOINTS)

    def _call(
        self, request: ModelRequest, streaming: bool
    ) -> tuple[str, str, dict[str, Any], dict[str, str], Deadlines]:
        """The call's endpoint, path, wire body, headers and deadlines."""
        target = request.target
        endpoint = (target.endpoint or self.default_endpoint).rstrip("/")
        if not endpoint:
            raise BadRequestError("no model endpoint given for an OpenAI-compatible model")
        key = target.api_key.get_secret_value() if target.api_key else self.default_key
        deadlines = Deadlines.of(
            request,
            self.timeouts.first_byte_s,
            self.timeouts.total_s,
            limits=self.answer_limits,
            max_tokens=DEFAULT_MAX_TOKENS,
        )
        headers = {**self.extra_headers, "Authorization": f"Bearer {key or NO_KEY}"}
        # Keys in the order the SDK sent them: the same bytes on the wire either way.
        body: dict[str, Any] = {"model": target.identifier or target.name}
        if streaming:
            body["stream"] = True
        suffix = None
        if request.kind == "chat":
            body["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
        else:
            fim_format = target.completion.fim_format
            if fim_format and request.suffix:
                body["prompt"] = fim_format.format(prefix=request.prefix, suffix=request.suffix)
            else:
                body["prompt"] = request.prefix
                suffix = request.suffix
        body["max_tokens"] = max_tokens(request, DEFAULT_MAX_TOKENS)
        stops = stop_sequences(request, 4 if "api.openai.com" in endpoint else None)
        if stops:
            body["stop"] = stops
        if streaming:
            body["stream_options"] = {"include_usage": True}
        if suffix:
            body["suffix"] = suffix
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        path = "/chat/completions" if request.kind == "chat" else "/completions"
        return endpoint, path, body, headers, deadlines

    async def check(self) -> bool:
        return True  # endpoints are named per request; there is nothing fixed to probe

    async def generate(self, request: ModelRequest) -> ModelResult:
        endpoint, path, body, headers, deadlines = self._call(request, streaming=False)
        try:
            answer = await post_json(
                self._clients.of(endpoint), path, body, headers, deadlines, PROVIDER
            )
        except Exception as exc:
            raise map_error(exc) from None
        return result_of(answer, request.kind == "chat")

    async def stream(self, request: ModelRequest) -> AsyncIterator[Chunk]:
        if self.disable_streaming:  # AIGW_CUSTOM_MODELS__DISABLE_STREAMING: one whole answer
            result = await self.generate(request)
            yield Chunk(text=result.text)
            yield Chunk(
                text="",
                input_tokens=result.input_tokens,
                output_tokens=result.output_tokens,
                final=True,
            )
            return
        endpoint, path, body, headers, deadlines = self._call(request, streaming=True)
        wire = events(self._clients.of(endpoint), path, body, headers, deadlines, PROVIDER)
        try:
            async for chunk in guarded(
                chunks_of(wire, request.kind == "chat"), deadlines, PROVIDER
            ):
                yield chunk
        except Exception as exc:
            raise map_error(exc) from None
