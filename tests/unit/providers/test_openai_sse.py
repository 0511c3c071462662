"""What the `openai` SDK's stream decoder did and `openai_sse` now does by hand: SSE framing
(CRLF, multi-line data, comments, events split anywhere on the wire), an error event, error
statuses before the stream, and the connection reused after `[DONE]`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from core.errors import ModelError, ModelRateLimited
from core.types import Chunk
from deployments.backends.openai_compat import OpenAICompatBackend
from deployments.backends.openai_sse import data_of
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Behaviour, Received, Send
from tests.unit.providers.test_openai_compat_backend import backend, completion


class RawSSE(FakeOpenAI):
    """Answers a stream with exactly the bytes a test gives, in the pieces it gives them."""

    pieces: tuple[bytes, ...] = ()

    async def handle(self, received: Received, send: Send) -> None:
        await self.start(send, 200, "text/event-stream", {})
        for piece in self.pieces:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture(scope="module")
def raw_sse() -> Iterator[RawSSE]:
    fake = RawSSE().serve()
    yield fake
    fake.close()


async def chunks(be: OpenAICompatBackend, fake: FakeOpenAI) -> list[Chunk]:
    return [chunk async for chunk in be.stream(completion(fake))]


async def test_sse_framing_as_the_sdk_read_it(raw_sse: RawSSE) -> None:
    wire = (
        b": a comment\r\n\r\n"
        b'data: {"choices": [{"index": 0, "text": "return "}]}\r\n\r\n'
        # One event's JSON over two data lines, which join with a newline.
        b'data: {"choices": [{"index": 0, "text": "a + b",\n'
        b'data:  "finish_reason": "stop"}]}\n\n'
        b"event: usage\n"
        b'data: {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}\n\n'
        b"data: [DONE]\n\n"
    )
    # Split everywhere, a CRLF across two network reads included.
    raw_sse.pieces = tuple(wire[i : i + 7] for i in range(0, len(wire), 7))
    got = await chunks(backend(), raw_sse)
    assert [c.text for c in got if c.text] == ["return ", "a + b"]
    assert (got[-1].final, got[-1].input_tokens, got[-1].output_tokens) == (True, 9, 2)


async def test_events_split_anywhere_on_the_wire() -> None:
    """A CRLF, a multi-line event or a `data:` field cut between two network reads."""
    wire = b'data: {"a":\r\ndata: 1}\r\n\r\n: c\r\rdata: [DONE]\r\n\r\n'

    async def reads(size: int) -> AsyncIterator[bytes]:
        for i in range(0, len(wire), size):
            yield wire[i : i + size]

    for size in (1, 2, 3, 5, len(wire)):
        assert [d async for d in data_of(reads(size), None, "p")] == ['{"a":\n1}', "[DONE]"]


async def test_an_error_event_fails_the_stream(raw_sse: RawSSE) -> None:
    raw_sse.pieces = (
        b'data: {"choices": [{"index": 0, "text": "ret"}]}\n\n',
        b'data: {"error": {"message": "overloaded", "code": 503}}\n\n',
    )
    with pytest.raises(ModelError, match="call failed: APIError"):
        await chunks(backend(), raw_sse)


async def test_error_statuses_before_a_stream(fake_openai: FakeOpenAI) -> None:
    fake_openai.will(Behaviour(kind="status", status=429, headers={"retry-after": "3"}))
    with pytest.raises(ModelRateLimited) as limited:
        await chunks(backend(), fake_openai)
    assert limited.value.retry_after == "3"
    fake_openai.will(Behaviour(kind="status", status=502))
    with pytest.raises(ModelError) as failed:
        await chunks(backend(), fake_openai)
    assert failed.value.upstream_status == 502


async def test_streams_reuse_one_connection_after_done(fake_openai: FakeOpenAI) -> None:
    be = backend()
    for _ in range(3):
        assert (await chunks(be, fake_openai))[-1].final
    assert len({received.client for received in fake_openai.received}) == 1
