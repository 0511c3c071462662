"""Starlette's CORS middleware with a cheap path for requests without an `Origin` header.

GitLab calls the gateway server to server: its requests carry no `Origin`, and for those
Starlette's layer only adds `Vary: Origin` to the response head, after building a `Headers`
view of the request, a partial and a `MutableHeaders` of the response (~1 % of a completion's
CPU). This adds the same header the same way; any request with an `Origin` (a browser's, a
preflight) goes through Starlette's own code.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

Message = MutableMapping[str, Any]


def add_vary_origin(message: Message) -> None:
    """What Starlette's `CORSMiddleware.send` does to a response head when the request had no
    `Origin`: `Vary` becomes the values it had, then `Origin`, joined by `, `, in the place of
    the first `Vary` (any later one removed), or appended when there was none."""
    raw = list(message.get("headers", ()))
    found = [at for at, (name, _) in enumerate(raw) if name == b"vary"]
    value = b", ".join([*(raw[at][1] for at in found), b"Origin"])
    for at in reversed(found[1:]):
        del raw[at]
    if found:
        raw[found[0]] = (b"vary", value)
    else:
        raw.append((b"vary", value))
    message["headers"] = raw


class LeanCORSMiddleware(CORSMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(name == b"origin" for name, _ in scope["headers"]):
            await super().__call__(scope, receive, send)
            return

        async def send_vary(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_vary_origin(message)
            await send(message)

        await self.app(scope, receive, send_vary)
