"""What every provider backend shares: deadlines, stop sequences, error mapping helpers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextvars import ContextVar
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
        deadline; a non-streamed answer may send nothing until its end, so it gets the total
        one (`within` holds it to the first-byte deadline until its response starts)."""
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


@dataclass(slots=True)
class _Answer:
    """A non-streamed call in flight: its deadline, and the total one it moves to."""

    deadline: asyncio.Timeout
    total_at: float
    started: bool = False


_answer: ContextVar[_Answer | None] = ContextVar("aigw_answer", default=None)


async def response_started(response: object) -> None:
    """HTTP client event hook: the upstream's response has started (status line and headers
    are in), so a non-streamed call in flight (`within`) has until its total deadline."""
    answer = _answer.get()
    if answer is not None and not answer.started:
        answer.started = True
        answer.deadline.reschedule(answer.total_at)


def event_hooks() -> dict[str, list[Callable[..., Any]]]:
    """The event hooks of every provider HTTP client (httpx or httpx2 `event_hooks=`):
    without them a non-streamed answer must be whole within the first-byte deadline."""
    return {"response": [response_started]}


async def within(awaitable: Awaitable[T], deadlines: Deadlines, provider: str) -> T:
    """A non-streamed answer: its response must start (status line and headers) within the
    first-byte deadline and be read whole within the total one.

    The client's `event_hooks()` tell when the response starts; they run in this task, so
    `awaitable` must be a coroutine (not a task of its own) that makes the HTTP call.
    """
    loop = asyncio.get_running_loop()
    now = loop.time()
    answer: _Answer | None = None
    try:
        async with asyncio.timeout_at(now + deadlines.first_byte_s) as deadline:
            answer = _Answer(deadline, now + deadlines.total_s)
            token = _answer.set(answer)
            try:
                return await awaitable
            finally:
                _answer.reset(token)
    except TimeoutError:
        which = "total" if answer is not None and answer.started else "first-byte"
        raise ModelTimeout(f"{provider} missed its {which} deadline") from None


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
