"""The echo mock (API.md §4.1): answers `echo: ` + JSON of what it was asked."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from deployments.types import Chunk, ModelRequest, ModelResult

_SPLIT = re.compile(r"(\s)")


def echo_text(request: ModelRequest) -> str:
    kwargs: dict[str, Any] = {}
    for name, value in (
        ("temperature", request.temperature),
        ("max_output_tokens", request.max_tokens),
        ("top_p", request.top_p),
        ("top_k", request.top_k),
    ):
        if value is not None:
            kwargs[name] = str(value)
    if request.stop:
        kwargs["stop"] = list(request.stop)
    scope: dict[str, Any]
    if request.kind == "chat":
        scope = {
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": request.stream,
            "kwargs": kwargs,
        }
    else:
        scope = {
            "prefix": request.prefix,
            "suffix": request.suffix,
            "stream": request.stream,
            "kwargs": kwargs,
        }
    return "echo: " + json.dumps(scope)


class MockBackend:
    """Needs no model: used for contract tests, benchmarks and `AIGW_MOCK_MODEL_RESPONSES`."""

    async def check(self) -> bool:
        return True

    async def generate(self, request: ModelRequest) -> ModelResult:
        text = echo_text(request)
        return ModelResult(text=text, output_tokens=len(text.split()))

    async def stream(self, request: ModelRequest) -> AsyncIterator[Chunk]:
        text = echo_text(request)
        pieces = [p for p in _SPLIT.split(text) if p]
        for piece in pieces[:-1]:
            yield Chunk(text=piece)
        yield Chunk(text=pieces[-1] if pieces else "", output_tokens=len(text.split()), final=True)
