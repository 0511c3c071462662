"""The vLLM backend deployment: ray.serve.llm's `LLMServer` (engine start, health checks,
request ids, stream batching) plus the gateway's backend interface, so the ingress reaches the
engine in one handle hop with the same `ModelRequest` as every other backend.

Needs vLLM: only `builder.py` imports this module.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from ray.serve.llm import LLMConfig, LLMServer
from ray.serve.llm.openai_api_models import ChatCompletionRequest, CompletionRequest

from core.errors import GatewayError, ModelError
from core.types import Chunk, ModelRequest, ModelResult
from deployments.backends.common import unexpected
from deployments.backends.vllm import protocol
from deployments.backends.vllm.spec import CustomModelSpec

logger = logging.getLogger("aigw.vllm")
PROVIDER = "vllm"


def mapped(exc: Exception) -> GatewayError:
    """Our error types pass; anything else the engine raised is a 503 (as every backend)."""
    return exc if isinstance(exc, GatewayError) else unexpected(PROVIDER, exc)


class VLLMBackend(LLMServer):
    """One custom model's replica: a started vLLM engine behind the backend interface."""

    # Serve awaits an async constructor, as LLMServer's own.
    async def __init__(  # type: ignore[misc]
        self, llm_config: LLMConfig, *, spec: CustomModelSpec, **kwargs: Any
    ):
        self.spec = spec
        await super().__init__(llm_config, **kwargs)

    async def _engine_call(self, request: ModelRequest, *, stream: bool) -> AsyncIterator[Any]:
        body = protocol.request_body(request, self.spec, stream=stream)
        if request.kind == "chat":
            result: AsyncIterator[Any] = await self.chat(ChatCompletionRequest(**body))
        else:
            result = await self.completions(CompletionRequest(**body))
        return result

    async def check(self) -> bool:
        await self.check_health()
        return True

    async def generate(self, request: ModelRequest) -> ModelResult:
        """The engine's stream, collected: a cancel (the client went away) then lands inside
        that stream and closes it, which aborts the request in vLLM. With the engine's
        non-streamed call, about half the cancels left the generation running."""
        async with contextlib.aclosing(self.stream(request)) as chunks:
            result = protocol.result_of([chunk async for chunk in chunks])
        if not result.text and not result.output_tokens:
            raise ModelError("the engine returned no response")
        return result

    async def stream(self, request: ModelRequest) -> AsyncGenerator[Chunk, None]:
        """Chunks as the engine makes them. Closing or cancelling this generator (the client
        went away) closes the engine's stream, which aborts the request in vLLM."""
        try:
            responses = await self._engine_call(request, stream=True)
        except Exception as exc:
            raise mapped(exc) from None
        try:
            async for item in responses:
                for payload in protocol.payloads_of(item):
                    for chunk in protocol.chunks_of(payload):
                        yield chunk
        except Exception as exc:
            raise mapped(exc) from None
        finally:
            await responses.aclose()  # type: ignore[attr-defined]

    async def unfinished_requests(self) -> int:
        """Requests the engine is still working on (0 once every one finished or aborted)."""
        client = getattr(self.engine, "_engine_client", None)
        processor = getattr(client, "output_processor", None)
        if processor is None:
            return 0
        return int(processor.get_num_unfinished_requests())
