"""Streamed answers that stop when the client goes away, with plain asyncio tasks.

Starlette's `StreamingResponse` watches for the client's disconnect (uvicorn speaks ASGI 2.3:
a send after a disconnect is silently dropped, so only `receive` tells) with an anyio task
group: a cancel scope, sniffio's library lookup and anyio's task wrappers on every streamed
answer, ~10 % of a `/v4` suggestion's CPU in the ingress (bench.inproc --path v4). Here the
same two tasks are asyncio's own: the stream in a child task, the disconnect watch beside it;
whichever ends first cancels the other, and an error of the stream is raised as it is.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.responses import StreamingResponse as StarletteStreamingResponse
from starlette.types import Receive, Scope, Send


class StreamingResponse(StarletteStreamingResponse):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        stream = asyncio.ensure_future(self.stream_response(send))
        watch = asyncio.ensure_future(self.listen_for_disconnect(receive))
        try:
            await asyncio.wait((stream, watch), return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when this request's own task is cancelled
            for task in (stream, watch):
                task.cancel()
            for task in (watch, stream):
                with contextlib.suppress(asyncio.CancelledError):
                    await task  # the stream's own error is raised here, last
        if self.background is not None:
            await self.background()
