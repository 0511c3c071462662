"""What every provider backend shares: deadlines, stop sequences, error mapping helpers."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import httpx2

from core.edge_settings import AnswerLimitSettings
from core.errors import GatewayError, ModelError, ModelRateLimited, ModelTimeout
from core.types import Chunk, ModelRequest

logger = logging.getLogger("aigw.backends")

T = TypeVar("T")


# A streamed answer sends each token in an event of its own (`data: {...}` with ids, roles and
# finish fields: 100-300 bytes for one token of text), so its wire bytes get this much more room
# than its text.
STREAM_FRAMING = 16


@dataclass(frozen=True, slots=True)
class Deadlines:
    """First-byte and total deadlines of one model call, in seconds, and the most bytes its
    answer may take (None: unbounded)."""

    first_byte_s: float
    total_s: float
    answer_bytes: int | None = None
    connect_s: float | None = None
    stall_s: float | None = None  # between two chunks of a stream, once content started

    @classmethod
    def of(
        cls,
        request: ModelRequest,
        default_first_byte_s: float,
        default_total_s: float,
        *,
        limits: AnswerLimitSettings | None = None,
        max_tokens: int | None = None,
    ) -> Deadlines:
        """The request's deadlines (the backend's configured ones where it sets none), and
        with `limits` the bound of an answer of `max_tokens` (the request's where it names
        them)."""
        timeouts = request.timeouts
        total = default_total_s if timeouts.total_s is None else timeouts.total_s
        first = default_first_byte_s if timeouts.first_byte_s is None else timeouts.first_byte_s
        if timeouts.max_total_s is not None:
            total = min(total, timeouts.max_total_s)
        if timeouts.max_first_byte_s is not None:
            first = min(first, timeouts.max_first_byte_s)
        cap = None
        if limits is not None:
            tokens = request.max_tokens or max_tokens or 0
            cap = max(limits.min_bytes, tokens * limits.bytes_per_token)
        return cls(
            first_byte_s=min(first, total),
            total_s=total,
            answer_bytes=cap,
            connect_s=timeouts.connect_s,
            stall_s=timeouts.stall_s,
        )

    def http_timeout(self, streaming: bool) -> httpx2.Timeout:
        """The SDK's own timeout, a backstop to ours: a stalled stream fails after the first-byte
        deadline; a non-streamed answer may send nothing until its end, so it gets the total
        one (`within` holds it to the first-byte deadline until its response starts)."""
        connect, read, total = self.http_limits(streaming)
        return httpx2.Timeout(total, connect=connect, read=read)

    def http_limits(self, streaming: bool) -> tuple[float, float, float]:
        """`http_timeout`'s connect, read and pool (= total) seconds, without building it."""
        read = max(self.first_byte_s, self.stall_s or 0.0) if streaming else self.total_s
        return min(self.connect_s or 5.0, self.first_byte_s), read, self.total_s


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


@dataclass(slots=True)
class _Cap:
    """The most bytes a call's HTTP answer may take; `exceeded` once one went past it (the SDK
    may wrap the error it got in its own type: the call's caller asks this instead)."""

    limit: int
    provider: str
    exceeded: bool = False

    def refuse(self) -> ModelError:
        self.exceeded = True
        return ModelError(f"{self.provider} answer exceeds {self.limit} bytes")


_answer: ContextVar[_Answer | None] = ContextVar("aigw_answer", default=None)
_cap: ContextVar[_Cap | None] = ContextVar("aigw_answer_cap", default=None)


class _CappedStream(httpx2.AsyncByteStream, httpx.AsyncByteStream):
    """A response's byte stream that fails once more than the cap has come: the SDK reading
    it never holds more than the cap (plus one network read) of a runaway answer. Both HTTP
    clients the SDKs use check that a response's stream is their own kind."""

    def __init__(self, stream: Any, cap: _Cap) -> None:
        self._stream = stream
        self._cap = cap
        self._seen = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for data in self._stream:
            self._seen += len(data)
            if self._seen > self._cap.limit:
                raise self._cap.refuse()
            yield data

    async def aclose(self) -> None:
        await self._stream.aclose()


async def response_started(response: Any) -> None:
    """HTTP client event hook: the upstream's response has started (status line and headers
    are in), so a non-streamed call in flight (`within`) has until its total deadline; and
    its body, not read yet, is held to the call's answer cap: refused at once when its
    Content-Length is over, cut as soon as it passes the cap otherwise."""
    answer = _answer.get()
    if answer is not None and not answer.started:
        answer.started = True
        answer.deadline.reschedule(answer.total_at)
    cap = _cap.get()
    if cap is None:
        return
    length = response.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > cap.limit:
        await response.aclose()
        raise cap.refuse()
    response.stream = _CappedStream(response.stream, cap)


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
    cap = _Cap(deadlines.answer_bytes, provider) if deadlines.answer_bytes else None
    try:
        async with asyncio.timeout_at(now + deadlines.first_byte_s) as deadline:
            answer = _Answer(deadline, now + deadlines.total_s)
            token, cap_token = _answer.set(answer), _cap.set(cap)
            try:
                return await awaitable
            finally:
                _cap.reset(cap_token)
                _answer.reset(token)
    except TimeoutError:
        which = "total" if answer is not None and answer.started else "first-byte"
        raise ModelTimeout(f"{provider} missed its {which} deadline") from None
    except Exception:
        if cap is not None and cap.exceeded:  # whatever the SDK made of it
            raise cap.refuse() from None
        raise


async def guarded(
    chunks: AsyncIterator[Chunk], deadlines: Deadlines, provider: str
) -> AsyncIterator[Chunk]:
    """Enforce the first-byte and total deadlines, and the answer cap, on a stream of chunks.

    A missed deadline raises ModelTimeout; text past `deadlines.answer_bytes` characters (its
    wire bytes past STREAM_FRAMING times that) raises ModelError. The upstream iterator is
    always closed, so the provider connection is released (or cancelled when the client went
    away).
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + deadlines.total_s
    first_by = loop.time() + deadlines.first_byte_s
    iterator = chunks.__aiter__()
    got_first = False
    text_cap = deadlines.answer_bytes
    cap = _Cap(text_cap * STREAM_FRAMING, provider) if text_cap else None
    # The upstream's HTTP call runs in the tasks below: they see the cap in their context.
    context = contextvars.copy_context()
    context.run(_cap.set, cap)
    text_seen = 0
    stall = deadlines.stall_s
    try:
        while True:
            now = loop.time()
            if got_first:
                limit = (min(end, now + stall) if stall else end) - now
            else:
                limit = min(first_by, end) - now
            step = loop.create_task(_next(iterator), context=context)
            try:
                chunk = await asyncio.wait_for(step, max(limit, 0.0))
            except StopAsyncIteration:
                return
            except TimeoutError:
                which = "first-byte"
                if got_first:
                    which = "stall" if stall and loop.time() < end - 0.001 else "total"
                raise ModelTimeout(f"{provider} missed its {which} deadline") from None
            except Exception:
                if cap is not None and cap.exceeded:
                    raise cap.refuse() from None
                raise
            if chunk.text:
                got_first = True
                text_seen += len(chunk.text)
                if text_cap and text_seen > text_cap:
                    raise ModelError(f"{provider} answer exceeds {text_cap} characters")
            yield chunk
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:  # closing a broken upstream must not hide the real error
                logger.debug("closing %s stream failed", provider, exc_info=True)


async def _next(iterator: AsyncIterator[Chunk]) -> Chunk:
    return await iterator.__anext__()


def unexpected(provider: str, exc: BaseException) -> GatewayError:
    """Anything a provider SDK raised that we did not map: a 503, logged without secrets."""
    logger.warning("%s call failed: %s", provider, type(exc).__name__, exc_info=exc)
    return ModelError(f"{provider} call failed: {type(exc).__name__}")


def usage_int(value: Any) -> int:
    return int(value) if isinstance(value, int) else 0
