"""Frames that are ready together leave in one write.

A stream's frames each cost a pass through the ASGI stack and a socket write. When the model
produces faster than that (the echo mock makes a whole answer at once; engines batch tokens),
frames queue up: they go out joined, each still its own SSE event or text piece. A frame that
arrives alone goes out alone, as soon as it arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

MAX_JOINED_CHARS = 64 * 1024


class _End:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


async def coalesced(frames: AsyncIterator[str]) -> AsyncGenerator[str, None]:
    """`frames`, read ahead by a task; everything it has read by the time the writer is ready
    again goes out as one string. Closing this generator (the client went away) cancels the
    reader, which closes `frames` and so stops the model."""
    queue: asyncio.Queue[str | _End] = asyncio.Queue()

    async def read() -> None:
        try:
            async for frame in frames:
                queue.put_nowait(frame)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the writer, which raises it
            queue.put_nowait(_End(exc))
            return
        finally:
            with contextlib.suppress(Exception):
                await frames.aclose()  # type: ignore[attr-defined]
        queue.put_nowait(_End())

    reader = asyncio.create_task(read())
    try:
        while True:
            item = await queue.get()
            joined: list[str] = []
            size = 0
            while not isinstance(item, _End):
                joined.append(item)
                size += len(item)
                if queue.empty() or size >= MAX_JOINED_CHARS:
                    break
                item = queue.get_nowait()
            if joined:
                yield "".join(joined)
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
    finally:
        if not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
