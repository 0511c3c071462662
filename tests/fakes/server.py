"""A scripted, recording HTTP server that the provider fakes share.

Each fake is a raw ASGI app answering one provider's wire protocol. A test queues a
`Behaviour` (what the next request gets: an answer, an HTTP error, a malformed body, a reset
connection, a slow first byte, a body slow to follow its headers, a stream cut mid-way) and
reads `received` afterwards to see what the upstream was sent (path, headers, JSON body).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from bench.isolation import free_port

Send = Callable[[dict[str, Any]], Awaitable[None]]
_current: ContextVar[Received] = ContextVar("fake_request")
_behaviour: ContextVar[Behaviour] = ContextVar("fake_behaviour")


@dataclass
class Behaviour:
    # ok | status | malformed | reset | slow | cut, and for resilience tests: hang_headers
    # (headers, then nothing), stall (a stream stops sending mid-way and keeps the connection
    # open), malformed_sse (a broken SSE message mid-stream), no_done (every text event but
    # no terminating `[DONE]` / `message_stop`). A hang before the headers is `delay_s`.
    kind: str = "ok"
    text: str = "hello there from the fake model"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # before the first byte ("slow")
    body_delay_s: float = 0.0  # between the headers and the body of a non-streamed answer
    pieces: tuple[str, ...] = ()  # the streamed text pieces, exactly (default: word by word)
    chunk_delay_s: float = 0.0  # pause after each SSE message of a streamed answer
    usage: tuple[int, int] | None = None  # (input, output) tokens to report
    sized: bool = False  # a non-streamed answer says its Content-Length (else: chunked)
    cut_after: int | None = None  # cut/reset/stall/malformed_sse after this many SSE messages
    hang_s: float = 60.0  # how long hang_headers and stall hold the connection open

    def __post_init__(self) -> None:
        if self.pieces:
            self.text = "".join(self.pieces)

    def parts(self) -> list[str]:
        return list(self.pieces) if self.pieces else words(self.text)


@dataclass
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    # When the caller hung up before the answer was complete: the gateway cancelled the request.
    left: float | None = None
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    client: tuple[str, int] | None = None  # the caller's address: one per TCP connection

    def json(self) -> Any:
        return json.loads(self.body)


class ResetConnection(Exception):
    """Raised after the response started: uvicorn then drops the connection mid-body."""


class FakeProvider:
    """Base of the fakes: recording, the behaviour queue and the helpers to answer."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.behaviours: deque[Behaviour] = deque()
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- scripting ------------------------------------------------------------------------
    def will(self, *behaviours: Behaviour) -> FakeProvider:
        self.behaviours.extend(behaviours)
        return self

    def next_behaviour(self) -> Behaviour:
        """The behaviour of the request being handled (the next queued one, else a plain
        answer)."""
        behaviour = self.behaviours.popleft() if self.behaviours else Behaviour()
        _behaviour.set(behaviour)
        return behaviour

    @property
    def last(self) -> Received:
        return self.received[-1]

    def reset(self) -> None:
        self.received.clear()
        self.behaviours.clear()

    # -- ASGI -----------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        received = Received(
            scope["method"], scope["path"], scope["query_string"].decode(), headers, body
        )
        client = scope.get("client")
        received.client = tuple(client) if client else None
        self.received.append(received)
        _current.set(received)
        answered = False

        async def send_watched(message: dict[str, Any]) -> None:
            nonlocal answered
            if message["type"] == "http.response.body" and not message.get("more_body"):
                answered = True
            await send(message)

        async def watch() -> None:
            message = await receive()  # uvicorn also says disconnect once the answer is sent
            if message["type"] == "http.disconnect" and not answered:
                received.left = time.monotonic()
                received.gone.set()

        watcher = asyncio.create_task(watch())
        try:
            await self.handle(received, send_watched)
        finally:
            watcher.cancel()

    async def handle(self, received: Received, send: Send) -> None:
        raise NotImplementedError

    # -- answering helpers ----------------------------------------------------------------
    @staticmethod
    async def start(send: Send, status: int, content_type: str, extra: dict[str, str]) -> None:
        headers = [(b"content-type", content_type.encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})

    async def json_answer(
        self, send: Send, obj: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        behaviour = _behaviour.get(None)
        body = json.dumps(obj).encode()
        headers = dict(headers or {})
        if behaviour is not None and behaviour.sized:
            headers["content-length"] = str(len(body))
        await self.start(send, status, "application/json", headers)
        if behaviour is not None and behaviour.body_delay_s:
            await self.pause(behaviour.body_delay_s)  # the headers have gone out already
        await send({"type": "http.response.body", "body": body})

    async def pause(self, seconds: float) -> None:
        """Sleep like a slow model; a caller that hangs up ends it early (recorded in `left`)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_current.get().gone.wait(), seconds)

    async def before(
        self, behaviour: Behaviour, send: Send, error_body: Any, streaming: bool = False
    ) -> bool:
        """Handle the behaviours every protocol shares; True when the answer is done.
        A streamed answer handles `reset` and `cut` itself, mid-stream."""
        if behaviour.delay_s:
            await self.pause(behaviour.delay_s)
        if behaviour.kind == "status":
            await self.json_answer(send, error_body, behaviour.status, behaviour.headers)
            return True
        if behaviour.kind == "malformed":
            await self.start(send, 200, "application/json", {})
            await send({"type": "http.response.body", "body": b'{"this is": not json'})
            return True
        if behaviour.kind == "hang_headers":
            await self.start(
                send, 200, "text/event-stream" if streaming else "application/json", {}
            )
            await self.pause(behaviour.hang_s)
            await send({"type": "http.response.body", "body": b""})
            return True
        if behaviour.kind == "reset" and not streaming:
            await self.start(send, 200, "application/json", {})
            await send({"type": "http.response.body", "body": b'{"id": ', "more_body": True})
            raise ResetConnection()
        return False

    async def sse(self, send: Send, events: list[str], behaviour: Behaviour) -> None:
        """Send SSE messages one by one. `cut` ends the body cleanly after half of them (no
        terminating event); `reset` drops the connection there instead."""
        await self.start(send, 200, "text/event-stream", {"cache-control": "no-cache"})
        broken = behaviour.kind in ("cut", "reset", "stall", "malformed_sse")
        if broken:
            keep = behaviour.cut_after
            events = events[: keep if keep is not None else max(2, len(events) // 2)]
        if behaviour.kind == "no_done":
            events = events[:-1]
        if behaviour.kind == "malformed_sse":
            events = [*events, 'data: {"choices": [{"delta": {"content": not json\n\n']
        for event in events:
            await send({"type": "http.response.body", "body": event.encode(), "more_body": True})
            await self.pause(behaviour.chunk_delay_s)
            if _current.get().left is not None:
                return
        if behaviour.kind == "reset":
            raise ResetConnection()
        if behaviour.kind == "stall":
            await self.pause(behaviour.hang_s)
        await send({"type": "http.response.body", "body": b""})

    # -- lifecycle ------------------------------------------------------------------------
    def serve(self) -> FakeProvider:
        port = free_port()
        config = uvicorn.Config(
            self, host="127.0.0.1", port=port, log_level="critical", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("fake provider did not start")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)


def words(text: str) -> list[str]:
    """Split a reply into streamed pieces that concatenate back to it."""
    pieces = text.split(" ")
    return [p + (" " if i < len(pieces) - 1 else "") for i, p in enumerate(pieces)]
