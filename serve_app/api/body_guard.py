"""The request body at the edge of the app: too big (413) or too slow (408), in one layer.

- **Size** (`AIGW_LIMITS__MAX_BODY_BYTES`), as nginx's `client_max_body_size`: from
  `Content-Length` before anything is read, and for a chunked body as soon as the bytes
  received pass the limit, so an oversized upload is never buffered whole. Auth comes after
  this layer: a 413 costs no token check.
- **Time** (`AIGW_EDGE__REQUEST_BODY_TIMEOUT_S`), as nginx's `client_body_timeout`: HAProxy's
  `wait-for-body` bounds only the part of a body that fits its buffer (16 KiB); past it, a
  client could trickle the rest for as long as `timeout client` allows (an hour). Each read of
  the body gets at most this long: the time between two successive pieces, not the whole
  upload, so a big body on a slow but live link still gets through. Only the request body is
  timed: a long response (a stream) never is.

The refusal is raised inside the app's `receive()`, where a handler may catch it and turn it
into an error of its own (a proxy's 502). Whatever the handler made of it, the client gets the
refusal's answer: before the response started, in place of the handler's; after, the response
the handler started stands. One layer, not one per check: each ASGI layer wraps every
`receive` and `send` of every request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import ContentTooLarge, GatewayError
from serve_app.api.error_policy import error_response

Message = MutableMapping[str, Any]


class RequestBodyTimeout(GatewayError):
    """408: the client sent nothing of its body for `timeout_s` seconds."""

    status_code = 408

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"Request Timeout: no request body received for {timeout_s:g} s")
        self.timeout_s = timeout_s

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.timeout_s,))


def answer_of(exc: GatewayError) -> Any:
    response = error_response(exc)
    if isinstance(exc, RequestBodyTimeout):
        # The rest of the body may still come: the connection cannot carry another request.
        response.headers["Connection"] = "close"
    return response


def _content_length(raw: Iterable[tuple[bytes, bytes]]) -> int | None:
    for name, value in raw:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyGuardMiddleware:
    """413 for a body over `max_bytes`; 408 when a read of the body waits over `timeout_s`
    (0: not timed)."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 0.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope["headers"])
        if length is not None and length > self.max_bytes:
            await error_response(ContentTooLarge(self.max_bytes))(scope, receive, send)
            return
        received = 0
        body_done = False
        refused: GatewayError | None = None
        timeout_s = self.timeout_s

        async def guarded_receive() -> Message:
            nonlocal received, body_done, refused
            if body_done:  # after the body, receive() waits for a disconnect: not timed
                return await receive()
            if timeout_s:
                # asyncio.timeout, not wait_for: no task per read on the request path.
                deadline = asyncio.timeout(timeout_s)
                try:
                    async with deadline:
                        message = await receive()
                except TimeoutError:
                    if not deadline.expired():
                        raise  # the server's own receive() gave up: not ours to answer
                    refused = RequestBodyTimeout(timeout_s)
                    raise refused from None
            else:
                message = await receive()
            if message["type"] != "http.request":
                body_done = True
                return message
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                refused = ContentTooLarge(self.max_bytes)
                raise refused
            if not message.get("more_body", False):
                body_done = True
            return message

        await answer_refusal(
            self.app, scope, receive, send, guarded_receive, lambda: refused, answer_of
        )


async def answer_refusal(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    guarded_receive: Receive,
    refusal: Callable[[], GatewayError | None],
    answer: Callable[[GatewayError], ASGIApp],
) -> None:
    """Run `app` with `guarded_receive`; `refusal()` is the error it raised, if any. A 413 the
    handler answered itself goes through as it is (the body was refused, and it said so); a
    408 is always ours (the client was too slow, nothing else failed)."""
    started = replaced = False

    async def checked_send(message: Message) -> None:
        nonlocal started, replaced
        if replaced:
            return
        if message["type"] == "http.response.start":
            refused = refusal()
            if refused is not None and not (
                isinstance(refused, ContentTooLarge) and message["status"] == refused.status_code
            ):
                replaced = True
                await answer(refused)(scope, receive, send)
                return
            started = True
        await send(message)

    try:
        await app(scope, guarded_receive, checked_send)
    except Exception:
        refused = refusal()
        if refused is None or started or replaced:
            raise
        await answer(refused)(scope, receive, send)
