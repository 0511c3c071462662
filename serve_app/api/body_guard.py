"""Shared by the middlewares that refuse a request body while it arrives (too big, too slow).

The refusal is raised inside the app's `receive()`, where a handler may catch it and turn it
into an error of its own (a proxy's 502). Whatever the handler made of it, the client gets the
refusal's answer: before the response started, in place of the handler's; after, the response
the handler started stands.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import GatewayError

Message = MutableMapping[str, Any]


async def answer_refusal(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    guarded_receive: Receive,
    refusal: Callable[[], GatewayError | None],
    answer: Callable[[GatewayError], ASGIApp],
    *,
    keep_own_status: bool,
) -> None:
    """Run `app` with `guarded_receive`; `refusal()` is the error it raised, if any.
    `keep_own_status`: a handler's answer with the refusal's status goes through as it is."""
    started = replaced = False

    async def checked_send(message: Message) -> None:
        nonlocal started, replaced
        if replaced:
            return
        if message["type"] == "http.response.start":
            refused = refusal()
            if refused is not None and not (
                keep_own_status and message["status"] == refused.status_code
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
