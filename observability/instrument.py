"""Backend and assembler clients that record model time, tokens and inference metrics.

They wrap any `BackendClient` / `AssemblerClient` (remote handle or in-process class) and keep
the same interface, so the Gateway does not change: the composition root wraps what it builds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from core.errors import (
    BadRequestError,
    ModelError,
    ModelRateLimited,
    ModelTimeout,
    ModelUnavailable,
)
from core.types import (
    AssembledPrompt,
    AssembledSuggestion,
    Chunk,
    FinishedSuggestion,
    Identity,
    ModelRequest,
    ModelResult,
    ModelTarget,
    PromptCall,
    SuggestionInput,
)
from observability.metrics import GatewayMetrics
from observability.record import RequestRecord, current

_UPSTREAM_ERROR_TYPES = {
    400: "http_400",
    401: "permission_error",
    403: "permission_error",
    413: "prompt_too_long",
    429: "overloaded",
    503: "service_unavailable",
    529: "overloaded",
}


def error_type(exc: BaseException) -> str:
    """The contract's `error_type` label for a failed model call (API.md §8.1)."""
    if isinstance(exc, ModelRateLimited):
        return "overloaded"
    if isinstance(exc, ModelTimeout):
        return "connection_error"
    if isinstance(exc, ModelUnavailable):
        return "service_unavailable"
    if isinstance(exc, ModelError) and exc.upstream_status in _UPSTREAM_ERROR_TYPES:
        return _UPSTREAM_ERROR_TYPES[exc.upstream_status]
    if isinstance(exc, BadRequestError):
        return "http_400"
    if isinstance(exc, ConnectionError | TimeoutError):
        return "connection_error"
    return "other"


def inference_tags(
    record: RequestRecord | None,
    target: ModelTarget,
    streaming: bool,
    error: str,
    finish_reason: str,
) -> dict[str, str]:
    h = record.headers if record is not None else {}
    return {
        "model_engine": target.engine,
        "model_name": target.name,
        "lsp_version": h.get("x-gitlab-language-server-version", ""),
        "gitlab_version": h.get("x-gitlab-version", ""),
        "client_type": h.get("x-gitlab-client-type", ""),
        "gitlab_realm": h.get("x-gitlab-realm", ""),
        "is_gitlab_team_member": h.get("x-gitlab-is-team-member", ""),
        "error": "no" if error == "none" else "yes",
        "error_type": error,
        "streaming": "yes" if streaming else "no",
        "feature_category": record.feature_category if record is not None else "",
        "unit_primitive": record.unit_primitive if record is not None else "",
        "finish_reason": finish_reason,
    }


class InstrumentedBackend:
    """A BackendClient that times the model, counts tokens and records inference metrics."""

    def __init__(self, inner: Any, metrics: GatewayMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    async def check(self) -> bool:
        return bool(await self.inner.check())

    def _begin(
        self, request: ModelRequest, streaming: bool
    ) -> tuple[RequestRecord | None, ModelRequest]:
        """The request's record, and the model request carrying its correlation id."""
        record = current()
        target = request.target
        self.metrics.inference_started(target.engine, target.name)
        if record is not None:
            record.model(target.engine, target.name)
            record.streaming = record.streaming or streaming
            if record.request_logging:
                record.fields["model_request"] = request.model_dump(mode="json")
            if not request.correlation_id:  # so the backend's own logs can carry it
                request = request.model_copy(update={"correlation_id": record.correlation_id})
        return record, request

    def _end(
        self,
        record: RequestRecord | None,
        request: ModelRequest,
        streaming: bool,
        elapsed: float,
        error: str,
        finish_reason: str,
        input_tokens: int,
        output_tokens: int,
    ) -> None:
        if record is not None:
            record.input_tokens += input_tokens
            record.output_tokens += output_tokens
            record.finish_reason = finish_reason
        tags = inference_tags(record, request.target, streaming, error, finish_reason)
        self.metrics.inference_finished(tags, elapsed, input_tokens, output_tokens)

    async def generate(self, request: ModelRequest) -> ModelResult:
        record, request = self._begin(request, streaming=False)
        t0 = time.perf_counter()
        result: ModelResult | None = None
        error = "none"
        try:
            result = await self.inner.generate(request)
            return result
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = error_type(exc)
            raise
        finally:
            elapsed = time.perf_counter() - t0
            if record is not None:
                record.add_stage("backend_ttfb", elapsed)
                if result is not None and record.request_logging:
                    record.fields["model_response"] = result.text
            finish = result.finish_reason if result is not None else "error"
            if error == "none" and result is None:
                finish = "cancelled"
            self._end(
                record,
                request,
                False,
                elapsed,
                error,
                finish,
                result.input_tokens if result else 0,
                result.output_tokens if result else 0,
            )

    async def stream(self, request: ModelRequest) -> AsyncIterator[Chunk]:
        record, request = self._begin(request, streaming=True)
        t0 = time.perf_counter()
        first = True
        input_tokens = output_tokens = 0
        pieces: list[str] | None = [] if record is not None and record.request_logging else None
        error, finish = "none", "cancelled"
        reason: str | None = None
        try:
            async for chunk in self.inner.stream(request):
                if first:
                    first = False
                    now = time.perf_counter()
                    if record is not None:
                        record.add_stage("backend_ttfb", now - t0)
                        record.first_chunk_s = now - record.started
                input_tokens = chunk.input_tokens or input_tokens
                output_tokens = chunk.output_tokens or output_tokens
                reason = chunk.finish_reason or reason
                if pieces is not None:
                    pieces.append(chunk.text)
                yield chunk
            finish = reason or "stop"
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:
            error, finish = error_type(exc), "error"
            raise
        finally:
            if first and record is not None:  # no chunk at all: the wait was model time too
                record.add_stage("backend_ttfb", time.perf_counter() - t0)
            if pieces is not None and record is not None:
                record.fields["model_response"] = "".join(pieces)
            self._end(
                record,
                request,
                True,
                time.perf_counter() - t0,
                error,
                finish,
                input_tokens,
                output_tokens,
            )


class InstrumentedAssembler:
    """An AssemblerClient that times prompt assembly and counts prompt languages."""

    def __init__(self, inner: Any, metrics: GatewayMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    async def assemble_suggestion(
        self, inp: SuggestionInput, target: ModelTarget
    ) -> AssembledSuggestion:
        record = current()
        t0 = time.perf_counter()
        try:
            assembled: AssembledSuggestion = await self.inner.assemble_suggestion(inp, target)
        finally:
            if record is not None:
                record.add_stage("assemble", time.perf_counter() - t0)
        self.metrics.language(assembled.lang, assembled.extension, inp.language_identifier or "")
        if record is not None:
            record.fields["code_suggestion_type"] = inp.feature
            record.fields["lang"] = assembled.lang
        return assembled

    async def finish_suggestion(
        self, inp: SuggestionInput, assembled: AssembledSuggestion, result: ModelResult
    ) -> FinishedSuggestion:
        finished: FinishedSuggestion = await self.inner.finish_suggestion(inp, assembled, result)
        return finished

    async def assemble_prompt(self, call: PromptCall, identity: Identity) -> AssembledPrompt:
        assembled: AssembledPrompt = await self.inner.assemble_prompt(call, identity)
        return assembled

    async def directory_structure(self) -> dict[str, Any]:
        structure: dict[str, Any] = await self.inner.directory_structure()
        return structure
