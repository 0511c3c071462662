"""OpenAICompatBackend: any OpenAI-compatible server (vLLM, Ollama, llama.cpp's server, a
customer's self-hosted endpoint) through the official `openai` SDK.

Chat requests use `/v1/chat/completions`; completion (FIM) requests the legacy
`/v1/completions`. The endpoint, key and model come per request from the target; clients are
pooled per endpoint in each replica and the key travels as a per-request header, so no
connection pool is ever built for a single request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import openai

from core.errors import BadRequestError, GatewayError, ModelError, ModelTimeout
from core.settings import OpenAICompatBackendSettings
from core.types import Chunk, ModelRequest, ModelResult
from deployments.backends.common import (
    Deadlines,
    event_hooks,
    from_status,
    guarded,
    max_tokens,
    stop_sequences,
    unexpected,
    usage_int,
    within,
)

DEFAULT_MAX_TOKENS = 256
MAX_POOLED_ENDPOINTS = 64
NO_KEY = "dummy_key"  # what upstream sends a keyless custom_openai endpoint
PROVIDER = "openai-compatible"


def map_error(exc: Exception, provider: str = PROVIDER) -> GatewayError:
    """An `openai` SDK failure as our error (this backend's, and Fireworks' on the same SDK)."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return ModelTimeout(f"{provider} timed out")
    if isinstance(exc, openai.APIStatusError):
        return from_status(exc.status_code, exc.response.headers, provider)
    return unexpected(provider, exc)


def result_of(
    response: Any, chat: bool, provider: str = PROVIDER, score: float | None = None
) -> ModelResult:
    """A non-streamed completions / chat completions answer as our result."""
    if not response.choices:
        raise ModelError(f"{provider} answered no choices")
    choice = response.choices[0]
    text = choice.message.content if chat else choice.text
    usage = response.usage
    return ModelResult(
        text=text or "",
        input_tokens=usage_int(usage.prompt_tokens) if usage else 0,
        output_tokens=usage_int(usage.completion_tokens) if usage else 0,
        finish_reason=choice.finish_reason or "length",
        score=score,
    )


async def chunks_of(
    api: Any, params: dict[str, Any], chat: bool, provider: str = PROVIDER
) -> AsyncIterator[Chunk]:
    """A streamed answer as our chunks; a stream that ends without a finish_reason fails."""
    stream = await api.create(**params, stream=True, stream_options={"include_usage": True})
    finished = False
    input_tokens = output_tokens = 0
    try:
        async for event in stream:
            if event.usage:
                input_tokens = usage_int(event.usage.prompt_tokens)
                output_tokens = usage_int(event.usage.completion_tokens)
            for choice in event.choices:
                text = (choice.delta.content if chat else choice.text) or ""
                if text:
                    yield Chunk(text=text)
                if choice.finish_reason:
                    finished = True
    finally:
        await stream.close()
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
        self._clients: OrderedDict[str, openai.AsyncOpenAI] = OrderedDict()

    def client_for(self, endpoint: str) -> openai.AsyncOpenAI:
        """The pooled client of an endpoint (least recently used ones are closed past 64)."""
        client = self._clients.get(endpoint)
        if client is not None:
            self._clients.move_to_end(endpoint)
            return client
        # aiohttp transport: measured ≈ 30-40 % less client overhead per call than the default.
        client = openai.AsyncOpenAI(
            api_key=NO_KEY,
            base_url=endpoint,
            max_retries=0,
            http_client=openai.DefaultAioHttpClient(event_hooks=event_hooks()),
        )
        self._clients[endpoint] = client
        if len(self._clients) > MAX_POOLED_ENDPOINTS:
            # Requests in flight on the evicted client keep it alive until they finish.
            self._clients.popitem(last=False)
        return client

    def _call(
        self, request: ModelRequest, streaming: bool
    ) -> tuple[Any, dict[str, Any], Deadlines]:
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
        params: dict[str, Any] = {
            "model": target.identifier or target.name,
            "max_tokens": max_tokens(request, DEFAULT_MAX_TOKENS),
            "timeout": deadlines.http_timeout(streaming),
            "extra_headers": {**self.extra_headers, "Authorization": f"Bearer {key or NO_KEY}"},
        }
        stops = stop_sequences(request, 4 if "api.openai.com" in endpoint else None)
        if stops:
            params["stop"] = stops
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.top_p is not None:
            params["top_p"] = request.top_p
        client = self.client_for(endpoint)
        if request.kind == "chat":
            params["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
            return client.chat.completions, params, deadlines
        fim_format = target.completion.fim_format
        if fim_format and request.suffix:
            params["prompt"] = fim_format.format(prefix=request.prefix, suffix=request.suffix)
        else:
            params["prompt"] = request.prefix
            if request.suffix:
                params["suffix"] = request.suffix
        return client.completions, params, deadlines

    async def check(self) -> bool:
        return True  # endpoints are named per request; there is nothing fixed to probe

    async def generate(self, request: ModelRequest) -> ModelResult:
        api, params, deadlines = self._call(request, streaming=False)
        try:
            response = await within(api.create(**params), deadlines, PROVIDER)
        except Exception as exc:
            raise map_error(exc) from None
        return result_of(response, request.kind == "chat")

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
        api, params, deadlines = self._call(request, streaming=True)
        try:
            async for chunk in guarded(
                chunks_of(api, params, request.kind == "chat"), deadlines, PROVIDER
            ):
                yield chunk
        except Exception as exc:
            raise map_error(exc) from None
