"""What the gateway learns about one request while serving it, reachable from any code that
runs for that request (handlers, backend clients, stream bodies) through a context variable.

The observability middleware creates the record; stages, model details and token counts are
filled in along the way; at the end it becomes metrics, one access-log line and events.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

# Stages of X-Gateway-Timing, in the order they happen (API.md §8, issue 8).
STAGES = ("queue", "auth", "route", "assemble", "backend_ttfb", "post")

# Unit primitive -> upstream `meta.feature_category` / metric label.
FEATURE_CATEGORIES = {
    "complete_code": "code_suggestions",
    "generate_code": "code_suggestions",
    "duo_chat": "duo_chat",
    "explain_code": "duo_chat",
    "write_tests": "duo_chat",
    "refactor_code": "duo_chat",
    "fix_code": "duo_chat",
    "documentation_search": "duo_chat",
    "explain_vulnerability": "vulnerability_management",
    "resolve_vulnerability": "vulnerability_management",
}


@dataclass(slots=True)
class RequestRecord:
    started: float  # perf_counter() when the request entered our ASGI app
    arrived_wall: float  # time.time() at the same moment
    headers: dict[str, str]  # x-* headers and user-agent, lower-cased names
    correlation_id: str = ""
    edge_queue_s: float = 0.0  # arrival at an edge proxy (X-Request-Start) -> our app
    handler_at: float | None = None  # perf_counter() when the handler's work began
    stages: dict[str, float] = field(default_factory=dict)  # seconds
    unit_primitive: str = ""
    feature_category: str = ""
    model_engine: str = ""
    model_name: str = ""
    streaming: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str = ""
    first_chunk_s: float | None = None  # model's first chunk, from `started`
    response_start_s: float | None = None  # response head sent, from `started`
    status: int = 0
    request_logging: bool = False  # prompt/response text may be logged (API.md §8.2)
    fields: dict[str, Any] = field(default_factory=dict)  # extra access-log fields
    events: list[str] = field(default_factory=list)  # internal events tracked
    host: str | None = None  # the Host header (None: not read yet)

    def add_stage(self, stage: str, seconds: float) -> None:
        self.stages[stage] = self.stages.get(stage, 0.0) + seconds

    def begin_handler(self) -> None:
        if self.handler_at is None:
            self.handler_at = time.perf_counter()

    def authorized(self, unit_primitive: str) -> None:
        self.unit_primitive = unit_primitive
        self.feature_category = FEATURE_CATEGORIES.get(unit_primitive, unit_primitive)
        self.begin_handler()

    def model(self, engine: str, name: str) -> None:
        self.model_engine = engine
        self.model_name = name


_current: ContextVar[RequestRecord | None] = ContextVar("aigw_request_record", default=None)


def current() -> RequestRecord | None:
    """The record of the request this code runs for, or None outside a request."""
    return _current.get()


def activate(record: RequestRecord | None) -> Any:
    return _current.set(record)


def deactivate(token: Any) -> None:
    _current.reset(token)
