"""The code-suggestion flow shared by v2, v3 and v4: route, assemble, generate, post-process."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from core.errors import GatewayError
from core.types import AssembledSuggestion, SuggestionInput, TokenUsage
from deployments.suggestions.post_processing import (
    FenceStripper,
    post_process_completion,
    post_process_generation,
)
from observability.record import current
from observability.timing import Stopwatch
from routing.selection import ModelSelection
from serve_app.gateway import Gateway

logger = logging.getLogger("aigw.suggestions")


@dataclass(slots=True)
class Suggestion:
    text: str
    assembled: AssembledSuggestion
    usage: TokenUsage


async def prepare(
    gateway: Gateway, inp: SuggestionInput, selection: ModelSelection | None = None
) -> AssembledSuggestion:
    record = current()
    if record is not None:
        record.begin_handler()
    with Stopwatch(record, "route"):
        target = gateway.choose(inp.feature, selection)
    return await gateway.assemble(inp, target)


async def complete(
    gateway: Gateway, inp: SuggestionInput, assembled: AssembledSuggestion
) -> Suggestion:
    request = assembled.request
    result = await gateway.generate(request)
    engine = request.target.engine
    max_used = bool(request.max_tokens and result.output_tokens >= request.max_tokens)
    with Stopwatch(current(), "post"):
        if inp.feature == "code_generations":
            text = post_process_generation(
                result.text, inp.content_above_cursor, provider=inp.model_provider or ""
            )
        else:
            text = post_process_completion(
                result.text,
                inp.content_above_cursor,
                engine,
                gateway.settings.feature_flags.excl_post_process,
                suffix=inp.content_below_cursor,
                lang=assembled.lang,
                max_output_tokens_used=max_used,
            )
    usage = assembled.usage.model_copy(
        update={
            "input_tokens": result.input_tokens or assembled.usage.input_tokens,
            "output_tokens": result.output_tokens,
            "max_output_tokens_used": max_used,
        }
    )
    return Suggestion(text=text, assembled=assembled, usage=usage)


async def stream_text(
    gateway: Gateway, inp: SuggestionInput, assembled: AssembledSuggestion
) -> AsyncIterator[str]:
    """Text pieces as the model produces them; generations lose their markdown fences."""
    chunks = gateway.stream(assembled.request)
    try:
        if inp.feature != "code_generations":
            async for chunk in chunks:
                if chunk.text:
                    yield chunk.text
            return
        stripper = FenceStripper()
        async for chunk in chunks:
            for piece in stripper.feed(chunk.text):
                yield piece
        for piece in stripper.finish():
            yield piece
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]


async def started(stream: AsyncIterator[str]) -> AsyncIterator[str]:
    """Wait for the first piece before answering, so an upstream that fails at once gets the
    contract's error status instead of a 200 with a broken stream."""
    iterator = stream.__aiter__()
    try:
        first: str | None = await iterator.__anext__()
    except StopAsyncIteration:
        first = None

    async def replay() -> AsyncIterator[str]:
        try:
            if first is None:
                return
            yield first
            async for piece in iterator:
                yield piece
        finally:
            await iterator.aclose()  # type: ignore[attr-defined]

    return replay()


async def raw_text(pieces: AsyncIterator[str], correlation_id: str) -> AsyncIterator[str]:
    """A raw-text stream (v2, v3): a failure mid-way is logged, then aborts the response, so
    the client sees a broken body rather than a clean end (there is no error frame to send)."""
    try:
        async for piece in pieces:
            yield piece
    except GatewayError as exc:
        logger.error(
            "stream failed mid-way: %s", exc.message, extra={"correlation_id": correlation_id}
        )
        raise
