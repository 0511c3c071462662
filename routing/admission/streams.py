"""A model stream metered for its ticket: the output seen so far is what a request cut off
by its client (or by an error) is charged, and the ticket settles when the stream ends."""

from __future__ import annotations

from collections.abc import AsyncIterator

from core.types import Chunk
from routing.admission.controller import Ticket
from routing.admission.ticket import NO_LIMITS


def metered(ticket: Ticket, chunks: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
    """`chunks`, metered for `ticket`; as they are when there is no ticket to meter (one async
    generator less for every chunk to cross; the caller closes its stream either way)."""
    return chunks if ticket is NO_LIMITS else _metered(ticket, chunks)


async def _metered(ticket: Ticket, chunks: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
    pieces = 0
    try:
        async for chunk in chunks:
            if chunk.text:
                pieces += 1  # a backend that reports no counts until the end: a token a piece
                if ticket.output_cap is not None and pieces > ticket.output_cap:
                    return  # past what was reserved: the answer ends as at max_tokens
            ticket.observe(max(chunk.output_tokens, pieces))
            yield chunk
    finally:
        ticket.settle()  # first: an await below may be cancelled with the request
        await chunks.aclose()  # type: ignore[attr-defined]
        await ticket.release()
