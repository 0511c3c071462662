"""The CORS layer's answers are Starlette's: the cheap path for requests without an `Origin`
writes the same `Vary` header, and requests with one go through Starlette's own code."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.middleware.cors import CORSMiddleware

from serve_app.api.cors import LeanCORSMiddleware

OPTIONS = {"allow_origins": ["*"], "allow_methods": ["POST"], "allow_headers": ["*"]}


def app_answering(head: list[tuple[bytes, bytes]] | None) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        start: dict[str, Any] = {"type": "http.response.start", "status": 200}
        if head is not None:
            start["headers"] = list(head)
        await send(start)
        await send({"type": "http.response.body", "body": b"ok"})

    return app


async def answer(middleware: Any, request_headers: list[tuple[bytes, bytes]], head: Any) -> Any:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v2/code/completions",
             "headers": request_headers}  # fmt: skip
    await middleware(app_answering(head), **OPTIONS)(scope, receive, send)
    return sent


@pytest.mark.parametrize(
    "head",
    [
        None,
        [],
        [(b"content-type", b"application/json")],
        [(b"vary", b"Accept-Encoding"), (b"content-length", b"2")],
        [(b"vary", b"Accept"), (b"x-a", b"1"), (b"vary", b"Cookie"), (b"vary", b"X")],
    ],
)
@pytest.mark.parametrize(
    "request_headers",
    [
        [(b"content-type", b"application/json")],
        [(b"origin", b"https://gitlab.example.com")],
        [(b"origin", b"https://x"), (b"access-control-request-method", b"POST")],
    ],
)
async def test_lean_cors_answers_as_starlette(head: Any, request_headers: Any) -> None:
    ours = await answer(LeanCORSMiddleware, request_headers, head)
    theirs = await answer(CORSMiddleware, request_headers, head)
    assert ours == theirs
    assert (b"vary", b"Origin") in ours[0]["headers"] or any(
        name == b"vary" and value.endswith(b", Origin") for name, value in ours[0]["headers"]
    )
