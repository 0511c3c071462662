"""Frames that are ready together leave in one write.

A stream's frames each cost a pass through the ASGI stack and a socket write. When the model
produces faster than that (the echo mock makes a whole answer at once; engines batch tokens),
frames queue up: they go out joined, each still its own SSE event or text piece. A frame that
arrives alone goes out alone, as soon as it arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator

MAX_JOINED_CHARS = 64 * 1024


class _End:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


async def coalesced(frames: AsyncIterator[str]) -> AsyncGenerator[str, None]:
    """`frames`, read ahead by a task; everything it has read by the time the writer is ready
    again goes out as one string. Closing this generator (the client went away) cancels the
    reader, which closes `frames` and so stops the model."""
    # A deque and an event rather than an asyncio.Queue: a stream carries a frame per model
    # token, and the queue's bookkeeping per item (task counts, getter wake-ups) showed up.
    ready: deque[str] = deque()
    ended: list[_End] = []
    wake = asyncio.Event()

    async def read() -> None:
        try:
            async for frame in frames:
                ready.append(frame)
                wake.set()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the writer, which raises it
            ended.append(_End(exc))
            wake.set()
            return
        finally:
            with contextlib.suppress(Exception):
                await frames.aclose()  # type: ignore[attr-defined]
        ended.append(_End())
        wake.set()

    reader = asyncio.create_task(read())
    try:
        while True:
            if ready:
                joined: list[str] = []
                size = 0
                while ready and size < MAX_JOINED_CHARS:
                    frame = ready.popleft()
                    joined.append(frame)
                    size += len(frame)
                yield "".join(joined)
            elif ended:
                if ended[0].error is not None:
                    raise ended[0].error
                return
            else:
                wake.clear()
                await wake.wait()
    finally:
        if not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
