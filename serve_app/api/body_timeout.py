"""A request body that stops arriving is cut: 408 and the connection closed.

HAProxy's `wait-for-body` bounds only the part of a body that fits its buffer (16 KiB); past
it, a client could trickle the rest for as long as `timeout client` allows (an hour). As
nginx's `client_body_timeout` does, the app gives each read of the body at most
`AIGW_EDGE__REQUEST_BODY_TIMEOUT_S` (the setting HAProxy uses for the first part): the time
between two successive pieces, not the whole upload, so a big body on a slow but live link
still gets through. Only the request body is timed: a long response (a stream) never is.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import GatewayError
from serve_app.api.body_guard import Message, answer_refusal
from serve_app.api.error_policy import error_response


class RequestBodyTimeout(GatewayError):
    """408: the client sent nothing of its body for `timeout_s` seconds."""

    status_code = 408

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"Request Timeout: no request body received for {timeout_s:g} s")
        self.timeout_s = timeout_s

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.timeout_s,))


def _answer(exc: GatewayError) -> Any:
    # The rest of the body may still come: the connection cannot carry another request.
    response = error_response(exc)
    response.headers["Connection"] = "close"
    return response


class BodyReadTimeoutMiddleware:
    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False
        refused: RequestBodyTimeout | None = None

        async def timed_receive() -> Message:
            nonlocal body_done, refused
            if body_done:  # after the body, receive() waits for a disconnect: not timed
                return await receive()
            waited_from = time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError:
                if time.monotonic() - waited_from < self.timeout_s / 2:
                    raise  # the server's own receive() gave up: not ours to answer
                refused = RequestBodyTimeout(self.timeout_s)
                raise refused from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        # Whatever a handler made of the timeout, the answer is ours: 408 (the client was too
        # slow, nothing else failed) and the connection closed.
        await answer_refusal(
            self.app,
            scope,
            receive,
            send,
            timed_receive,
            lambda: refused,
            _answer,
            keep_own_status=False,
        )
