"""A streamed answer stops when its client goes away, and ends cleanly when it is done."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from serve_app.api.streaming import StreamingResponse

SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}}


def client(disconnect_after_s: float | None) -> tuple[Any, Any, list[dict[str, Any]]]:
    """ASGI receive/send of a client that hangs up after `disconnect_after_s` (None: never)."""
    sent: list[dict[str, Any]] = []
    first = True

    async def receive() -> dict[str, Any]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"", "more_body": False}
        if disconnect_after_s is None:
            await asyncio.sleep(3600)
        await asyncio.sleep(disconnect_after_s or 0)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    return receive, send, sent


async def test_a_client_that_goes_away_stops_the_stream() -> None:
    stopped = asyncio.Event()

    async def endless() -> AsyncIterator[str]:
        try:
            while True:
                yield "data: x\n\n"
                await asyncio.sleep(0.01)
        finally:
            stopped.set()  # the model call behind it is cancelled here

    receive, send, sent = client(disconnect_after_s=0.05)
    await receive()  # the request body, read by the route
    await asyncio.wait_for(StreamingResponse(endless())(SCOPE, receive, send), 2)
    assert stopped.is_set()
    assert sent[0]["type"] == "http.response.start" and len(sent) > 2


async def test_a_finished_stream_ends_the_answer_and_the_watch() -> None:
    async def three() -> AsyncIterator[str]:
        for piece in ("a", "b", "c"):
            yield piece

    receive, send, sent = client(disconnect_after_s=None)
    await receive()
    await asyncio.wait_for(StreamingResponse(three())(SCOPE, receive, send), 2)
    assert [m.get("body") for m in sent[1:]] == [b"a", b"b", b"c", b""]
    assert sent[-1]["more_body"] is False
    assert not [t for t in asyncio.all_tasks() if "listen_for_disconnect" in repr(t)]


async def test_an_error_of_the_stream_is_raised_as_it_is() -> None:
    async def broken() -> AsyncIterator[str]:
        yield "a"
        raise ValueError("upstream cut")

    receive, send, _ = client(disconnect_after_s=None)
    await receive()
    with pytest.raises(ValueError, match="upstream cut"):
        await StreamingResponse(broken())(SCOPE, receive, send)
