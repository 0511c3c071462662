"""`suggestions.started`: waits for a stream's first piece, then hands out the whole stream as
it was (the first piece included), passes on its error, and closes it when closed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from serve_app.suggestions import started


async def _stream(pieces: list[str], log: list[str], fail: bool = False) -> AsyncIterator[str]:
    try:
        for piece in pieces:
            yield piece
        if fail:
            raise ConnectionError("cut")
    finally:
        log.append("closed")


async def test_every_piece_in_order_the_first_included() -> None:
    log: list[str] = []
    stream = await started(_stream(["", "a", "b"], log))
    assert [piece async for piece in stream] == ["", "a", "b"]
    assert log == ["closed"]


async def test_an_empty_stream_gives_no_piece() -> None:
    log: list[str] = []
    stream = await started(_stream([], log))
    assert [piece async for piece in stream] == []
    assert [piece async for piece in stream] == []  # and stays ended


async def test_an_error_after_the_first_piece_reaches_the_reader() -> None:
    stream = await started(_stream(["a"], [], fail=True))
    got = []
    with pytest.raises(ConnectionError):
        async for piece in stream:
            got.append(piece)
    assert got == ["a"]


async def test_an_error_before_the_first_piece_is_raised_by_started() -> None:
    with pytest.raises(ConnectionError):
        await started(_stream([], [], fail=True))


async def test_closing_it_closes_the_stream_before_its_end() -> None:
    log: list[str] = []
    stream = await started(_stream(["a", "b", "c"], log))
    assert await stream.__anext__() == "a"
    assert await stream.__anext__() == "b"
    await stream.aclose()  # type: ignore[attr-defined]
    assert log == ["closed"]
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()
