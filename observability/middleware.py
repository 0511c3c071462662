"""The outermost of our ASGI middleware: opens the request's record, stamps `X-Gateway-Timing`
on the response head, and hands the record to Telemetry when the response is done. The API's
own response headers (`X-Request-ID`, `X-Process-Time`, rate limits) are added by a function it
calls (`response_headers`), not by a layer of their own: each ASGI layer costs a call on the
way in and another for every message sent.

Arrival is stamped when Serve hands the request to our ASGI app — Serve (2.60) passes no
earlier timestamp in the scope or request metadata. An edge proxy's `X-Request-Start` header
(`t=<unix time>`), when present, extends `queue` back to the edge.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from observability import timing
from observability.record import RequestRecord, activate, deactivate
from observability.telemetry import Telemetry

logger = logging.getLogger("aigw.observability")
Message = MutableMapping[str, Any]
# Adds the caller's own headers to a response head: (scope, raw headers, perf_counter at arrival).
ResponseHeaders = Callable[[Scope, list[tuple[bytes, bytes]], float], None]
TIMING_HEADER = timing.HEADER.lower().encode()
ROUTE_HEADER = b"x-gateway-route"


def new_request_id() -> str:
    """`uuid.uuid4().hex`: 32 hex digits of 16 random bytes with the version (4) and variant
    (RFC 4122) bits set, without building a `UUID` object on the way (a third of the cost)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return raw.hex()


class ObservabilityMiddleware:
    def __init__(
        self, app: ASGIApp, telemetry: Telemetry, response_headers: ResponseHeaders | None = None
    ) -> None:
        self.app = app
        self.telemetry = telemetry
        self.response_headers = response_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        wall = time.time()
        # The serving thread's CPU clock, not the process's: reading the process clock sums
        # every thread (a replica runs dozens), a few times dearer per read.
        cpu = time.thread_time()
        headers: dict[str, str] = {}
        host: bytes | None = None
        for name, value in scope["headers"]:
            if name[:2] == b"x-" or name == b"user-agent":
                headers[name.decode("latin-1")] = value.decode("latin-1")
            elif name == b"host" and host is None:  # for the access log's url
                host = value
        correlation_id = headers.get("x-request-id", "")
        if not correlation_id:  # so that every layer below sees the same id
            correlation_id = new_request_id()
            scope["headers"] = [*scope["headers"], (b"x-request-id", correlation_id.encode())]
        record = RequestRecord(
            started,
            wall,
            headers,
            correlation_id=correlation_id,
            host="" if host is None else host.decode("latin-1"),
        )
        edge = headers.get("x-request-start")
        if edge:
            record.edge_queue_s = timing.edge_queue_seconds(edge, wall)
        record.request_logging = self.telemetry.request_logging_allowed(headers)
        total_s: float | None = None
        state = scope.setdefault("state", {})
        state["record"] = record  # handlers pass it on explicitly
        state["correlation_id"] = correlation_id
        response_headers = self.response_headers

        async def send_timed(message: Message) -> None:
            nonlocal total_s
            if message["type"] == "http.response.start":
                total_s = timing.finish_stages(record, state.get("auth_s"), time.perf_counter())
                record.status = message["status"]
                raw = list(message.get("headers", ()))
                if response_headers is not None:
                    response_headers(scope, raw, started)
                for name, value in raw:
                    if name == b"content-type":
                        record.fields["content_type"] = value.decode("latin-1")
                        break
                raw.append((TIMING_HEADER, timing.header_value(record.stages, total_s).encode()))
                route = record.fields.get("gateway_route")
                if route:  # which model served, what was tried (routing/resilience/route.py)
                    raw.append((ROUTE_HEADER, route.encode("latin-1", "replace")))
                message["headers"] = raw
            await send(message)

        token = activate(record)
        error: BaseException | None = None
        try:
            await self.app(scope, receive, send_timed)
        except BaseException as exc:
            error = exc
            raise
        finally:
            deactivate(token)
            try:
                self.telemetry.finish(record, scope, total_s, cpu, error)
            except Exception:  # observability must never break a response
                logger.warning("recording request %s failed", correlation_id, exc_info=True)
