"""What every provider backend shares: deadlines, stop sequences, error mapping helpers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx2

from core.errors import GatewayError, ModelError, ModelRateLimited, ModelTimeout
from core.types import Chunk, ModelRequest

logger = logging.getLogger("aigw.backends")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Deadlines:
    """First-byte and total deadlines of one model call, in seconds."""

    first_byte_s: float
    total_s: float

    @classmethod
    def of(
        cls, request: ModelRequest, default_first_byte_s: float, default_total_s: float
    ) -> Deadlines:
        """The request's deadlines; the backend's configured ones where it sets none."""
        timeouts = request.timeouts
        total = default_total_s if timeouts.total_s is None else timeouts.total_s
        first = default_first_byte_s if timeouts.first_byte_s is None else timeouts.first_byte_s
        return cls(first_byte_s=min(first, total), total_s=total)

    def http_timeout(self, streaming: bool) -> httpx2.Timeout:
        """The SDK's own timeout, a backstop to ours: a stalled stream fails after the first-byte
        deadline; a non-streamed answer only comes at the end, so it gets the total one."""
        read = self.first_byte_s if streaming else self.total_s
        return httpx2.Timeout(self.total_s, connect=min(5.0, self.first_byte_s), read=read)


def stop_sequences(request: ModelRequest, limit: int | None = None) -> list[str]:
    """The request's stops (the model's own already among them), each once, at most `limit`
    (what the provider accepts)."""
    merged = [stop for stop in dict.fromkeys(request.stop) if stop]
    return merged[:limit] if limit else merged


def max_tokens(request: ModelRequest, default: int) -> int:
    """The request's max_tokens, else the provider's default."""
    return request.max_tokens or default


def retry_after(headers: Mapping[str, str] | None) -> str | None:
    """The upstream's `Retry-After` as it came; ModelRateLimited keeps it only if valid."""
    return headers.get("retry-after") if headers else None


def from_status(status: int, headers: Mapping[str, str] | None, provider: str) -> ModelError:
    """An upstream HTTP error status as our error type (the message never carries secrets)."""
    if status == 429:
        return ModelRateLimited(f"{provider} rate limited", retry_after(headers))
    return ModelError(f"{provider} answered HTTP {status}", upstream_status=status)


async def within(awaitable: Awaitable[T], deadlines: Deadlines, provider: str) -> T:
    """A non-streamed answer has no first token before its end: only the total deadline."""
    try:
        return await asyncio.wait_for(awaitable, deadlines.total_s)
    except TimeoutError:
        raise ModelTimeout(f"{provider} missed its {deadlines.total_s}s deadline") from None


async def guarded(
    chunks: AsyncIterator[Chunk], deadlines: Deadlines, provider: str
) -> AsyncIterator[Chunk]:
    """Enforce the first-byte and total deadlines on a stream of chunks.

    A missed deadline raises ModelTimeout; the upstream iterator is always closed, so the
    provider connection is released (or cancelled when the client went away).
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + deadlines.total_s
    first_by = loop.time() + deadlines.first_byte_s
    iterator = chunks.__aiter__()
    got_first = False
    try:
        while True:
            now = loop.time()
            limit = (end if got_first else min(first_by, end)) - now
            try:
                chunk = await asyncio.wait_for(iterator.__anext__(), max(limit, 0.0))
            except StopAsyncIteration:
                return
            except TimeoutError:
                which = "total" if got_first else "first-byte"
                raise ModelTimeout(f"{provider} missed its {which} deadline") from None
            if chunk.text:
                got_first = True
            yield chunk
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:  # closing a broken upstream must not hide the real error
                logger.debug("closing %s stream failed", provider, exc_info=True)


def unexpected(provider: str, exc: BaseException) -> GatewayError:
    """Anything a provider SDK raised that we did not map: a 503, logged without secrets."""
    logger.warning("%s call failed: %s", provider, type(exc).__name__, exc_info=exc)
    return ModelError(f"{provider} call failed: {type(exc).__name__}")


def usage_int(value: Any) -> int:
    return int(value) if isinstance(value, int) else 0
