"""The code-suggestion flow shared by v2, v3 and v4: route, assemble, generate, post-process.

The PromptAssembler builds the prompt and post-processes a non-streamed answer; a stream's
markdown fences are stripped here, piece by piece, as they pass through."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable

from core.types import AssembledSuggestion, FinishedSuggestion, SuggestionInput
from deployments.suggestions.post_processing import FenceStripper
from observability.record import RequestRecord
from observability.timing import Stopwatch
from routing.admission import NO_LIMITS, Ticket
from routing.admission.streams import metered
from routing.selection import ModelSelection
from serve_app.gateway import Gateway


async def prepare(
    gateway: Gateway,
    inp: SuggestionInput,
    selection: ModelSelection | None,
    record: RequestRecord | None,
) -> AssembledSuggestion:
    if record is not None:
        record.begin_handler()
    with Stopwatch(record, "route"):
        target = gateway.choose(inp.feature, selection)
    return await gateway.assemble(inp, target)


async def complete(
    gateway: Gateway,
    inp: SuggestionInput,
    assembled: AssembledSuggestion,
    record: RequestRecord | None,
    ticket: Ticket = NO_LIMITS,
) -> FinishedSuggestion:
    async with ticket:
        result = await gateway.generate(assembled.request)
        ticket.observe(result.output_tokens)
    with Stopwatch(record, "post"):  # post-processed as the model that answered was asked
        return await gateway.finish(inp, gateway.served(assembled), result)


async def stream_text(
    gateway: Gateway,
    inp: SuggestionInput,
    assembled: AssembledSuggestion,
    ticket: Ticket = NO_LIMITS,
) -> AsyncIterator[str]:
    """Text pieces as the model produces them; generations lose their markdown fences. The
    admission ticket settles when the stream ends, however it ends."""
    chunks = metered(ticket, gateway.stream(assembled.request))
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
    return Replayed(first, iterator)


class Replayed:
    """The first piece, then the rest of the stream. Not a generator: after the first piece
    each `__anext__` is the stream's own, so a token passes no extra generator frame on its
    way out (~900 instructions per token and frame)."""

    __slots__ = ("_first", "_iterator", "_replayed")

    def __init__(self, first: str | None, iterator: AsyncIterator[str]) -> None:
        self._first = first  # None: the stream ended before its first piece
        self._iterator = iterator
        self._replayed = False

    def __aiter__(self) -> Replayed:
        return self

    def __anext__(self) -> Awaitable[str]:
        if self._replayed:
            return self._iterator.__anext__()
        self._replayed = True
        first, self._first = self._first, None
        return _ended() if first is None else _piece(first)

    async def aclose(self) -> None:
        self._replayed = True
        await self._iterator.aclose()  # type: ignore[attr-defined]


async def _piece(piece: str) -> str:
    return piece


async def _ended() -> str:
    raise StopAsyncIteration
