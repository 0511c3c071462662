"""Streamed frames that are ready together leave in one write, each still intact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from serve_app.api.coalesce import coalesced


async def collect(stream: AsyncIterator[str]) -> list[str]:
    return [piece async for piece in stream]


async def test_frames_ready_at_once_go_out_in_one_write():
    async def instant() -> AsyncIterator[str]:
        for word in ("event: a\n\n", "event: b\n\n", "event: c\n\n"):
            yield word

    assert await collect(coalesced(instant())) == ["event: a\n\nevent: b\n\nevent: c\n\n"]


async def test_a_frame_that_arrives_alone_is_not_held_back():
    seen: list[tuple[str, bool]] = []
    second_made = asyncio.Event()

    async def slow() -> AsyncIterator[str]:
        yield "first "
        await asyncio.sleep(0.05)
        second_made.set()
        yield "second"

    async for piece in coalesced(slow()):
        seen.append((piece, second_made.is_set()))
    assert seen == [("first ", False), ("second", True)]


async def test_an_error_comes_after_the_frames_before_it():
    async def broken() -> AsyncIterator[str]:
        yield "ok "
        raise RuntimeError("upstream broke")

    got: list[str] = []
    with pytest.raises(RuntimeError, match="upstream broke"):
        async for piece in coalesced(broken()):
            got.append(piece)
    assert got == ["ok "]


async def test_closing_the_stream_stops_the_source():
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[str]:
        try:
            while True:
                yield "tok "
                await asyncio.sleep(0.01)
        finally:
            closed.set()

    stream = coalesced(endless())
    assert (await stream.__anext__()).startswith("tok ")
    await stream.aclose()  # the client went away
    await asyncio.wait_for(closed.wait(), 1)


async def test_a_long_burst_is_split_into_bounded_writes():
    from serve_app.api.coalesce import MAX_JOINED_CHARS

    frame = "x" * 1000

    async def burst() -> AsyncIterator[str]:
        for _ in range(3 * MAX_JOINED_CHARS // len(frame)):
            yield frame

    writes = await collect(coalesced(burst()))
    assert len(writes) >= 3
    assert all(len(w) < MAX_JOINED_CHARS + len(frame) for w in writes)
    assert "".join(writes) == frame * (3 * MAX_JOINED_CHARS // len(frame))
