"""AnthropicBackend: Claude through the official `anthropic` SDK (Messages API).

The same Messages translation serves Claude on Vertex AI (`AsyncAnthropicVertex`), so it
lives here as plain functions over any `anthropic` async client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic

from core.errors import GatewayError, ModelError, ModelTimeout
from core.settings import AnthropicBackendSettings
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

DEFAULT_MAX_TOKENS = 2048
MAX_STOP_SEQUENCES = 8  # Anthropic rejects longer lists


def messages_params(request: ModelRequest) -> dict[str, Any]:
    """The Messages API body for a request: system prompt apart, turns merged by role, and a
    trailing assistant turn kept as the prefill Claude continues from (e.g. `<new_code>`)."""
    system: list[str] = []
    turns: list[dict[str, str]] = []
    if request.kind == "chat":
        for message in request.messages:
            if message.role == "system":
                system.append(message.content)
            elif turns and turns[-1]["role"] == message.role:
                turns[-1]["content"] += "\n\n" + message.content
            else:
                turns.append({"role": message.role, "content": message.content})
    else:  # a plain text prompt: the assembler's prefix is the whole user turn
        turns.append({"role": "user", "content": request.prefix})
    if turns and turns[-1]["role"] == "assistant":
        turns[-1]["content"] = turns[-1]["content"].rstrip()  # the API refuses trailing spaces
    params: dict[str, Any] = {
        "model": request.target.identifier or request.target.name,
        "messages": turns,
        "max_tokens": max_tokens(request, DEFAULT_MAX_TOKENS),
    }
    if system:
        params["system"] = "\n\n".join(system)
    stops = stop_sequences(request, MAX_STOP_SEQUENCES)
    if stops:
        params["stop_sequences"] = stops
    # This SDK no longer types the sampling knobs (newer Claude models ignore or refuse them);
    # models that take them still do, so they travel in the body when a request sets them.
    sampling = {"temperature": request.temperature, "top_p": request.top_p, "top_k": request.top_k}
    extra = {name: value for name, value in sampling.items() if value is not None}
    if extra:
        params["extra_body"] = extra
    return params


def map_error(exc: Exception, provider: str) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, anthropic.APITimeoutError):
        return ModelTimeout(f"{provider} timed out")
    if isinstance(exc, anthropic.APIStatusError):
        return from_status(exc.status_code, exc.response.headers, provider)
    return unexpected(provider, exc)


async def generate_with(
    client: Any, request: ModelRequest, deadlines: Deadlines, provider: str
) -> ModelResult:
    params = messages_params(request)
    try:
        message = await within(
            client.messages.create(**params, timeout=deadlines.http_timeout(False)),
            deadlines,
            provider,
        )
    except Exception as exc:
        raise map_error(exc, provider) from None
    text = "".join(block.text for block in message.content if block.type == "text")
    return ModelResult(
        text=text,
        input_tokens=usage_int(message.usage.input_tokens),
        output_tokens=usage_int(message.usage.output_tokens),
        finish_reason="stop" if message.stop_reason in ("end_turn", "stop_sequence") else "length",
    )


async def _events(
    client: Any, request: ModelRequest, deadlines: Deadlines, provider: str
) -> AsyncIterator[Chunk]:
    params = messages_params(request)
    stream = await client.messages.create(
        **params, stream=True, timeout=deadlines.http_timeout(True)
    )
    input_tokens = output_tokens = 0
    try:
        async for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                yield Chunk(text=event.delta.text)
            elif event.type == "message_start":
                input_tokens = usage_int(event.message.usage.input_tokens)
            elif event.type == "message_delta":
                output_tokens = usage_int(event.usage.output_tokens)
            elif event.type == "message_stop":
                yield Chunk(
                    text="", input_tokens=input_tokens, output_tokens=output_tokens, final=True
                )
                return
    finally:
        await stream.close()
    # The connection ended without `message_stop`: a cut stream is never a clean finish.
    raise ModelError(f"{provider} stream ended before message_stop")


async def stream_with(
    client: Any, request: ModelRequest, deadlines: Deadlines, provider: str
) -> AsyncIterator[Chunk]:
    try:
        async for chunk in guarded(
            _events(client, request, deadlines, provider), deadlines, provider
        ):
            yield chunk
    except Exception as exc:
        raise map_error(exc, provider) from None


class AnthropicBackend:
    """Plain class; Ray serves it as the `AnthropicBackend` deployment."""

    provider = "anthropic"

    def __init__(self, settings: AnthropicBackendSettings) -> None:
        self.timeouts = settings.timeouts
        self.answer_limits = settings.answer_limits
        self.client = anthropic.AsyncAnthropic(
            api_key=settings.api_key.get_secret_value(),
            base_url=settings.base_url or None,
            max_retries=0,  # the gateway decides about retries and fallbacks
            http_client=anthropic.DefaultAsyncHttpxClient(event_hooks=event_hooks()),
        )

    def _deadlines(self, request: ModelRequest) -> Deadlines:
        return Deadlines.of(
            request,
            self.timeouts.first_byte_s,
            self.timeouts.total_s,
            limits=self.answer_limits,
            max_tokens=DEFAULT_MAX_TOKENS,
        )

    async def check(self) -> bool:
        return True  # a probe that calls the API would cost money on every readiness check

    async def generate(self, request: ModelRequest) -> ModelResult:
        return await generate_with(self.client, request, self._deadlines(request), self.provider)

    async def stream(self, request: ModelRequest) -> AsyncIterator[Chunk]:
        async for chunk in stream_with(
            self.client, request, self._deadlines(request), self.provider
        ):
            yield chunk
