"""The mock backend (API.md §4): the echo mock for legacy model calls, the fixed `mock`
answer for registry prompts (§4.1), and the scripted agentic mock (§4.3).

Which one answers is data on the request's target (`target.mock`, set on the mock models of
`core/mock_models.py`), so the backend needs no settings of its own.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from core.types import Chunk, ModelRequest, ModelResult
from deployments.backends import agentic_mock
from deployments.tool_calls import tool_call_pieces

FAKE_ANSWER = "mock"

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

    def __init__(self, settings: None = None) -> None:
        """Bound like every provider, with its settings slice: it has none."""

    async def check(self) -> bool:
        return True

    async def generate(self, request: ModelRequest) -> ModelResult:
        mode = mock_mode(request)
        if mode == "agentic":
            turn = _agentic_turn(request)
            await _sleep_ms(turn.latency_ms)
            return ModelResult(
                text=turn.content,
                input_tokens=_count(request),
                output_tokens=len(turn.content.split()),
                finish_reason="stop",
                tool_calls=list(turn.tool_calls),
            )
        text = FAKE_ANSWER if mode == "fake" else echo_text(request)
        return ModelResult(text=text, output_tokens=len(text.split()))

    async def stream(self, request: ModelRequest) -> AsyncIterator[Chunk]:
        mode = mock_mode(request)
        if mode == "agentic":
            async for chunk in _agentic_stream(request):
                yield chunk
            return
        if mode == "fake":
            yield Chunk(text=FAKE_ANSWER, output_tokens=1, final=True)
            return
        text = echo_text(request)
        pieces = [p for p in _SPLIT.split(text) if p]
        for piece in pieces[:-1]:
            yield Chunk(text=piece)
        yield Chunk(text=pieces[-1] if pieces else "", output_tokens=len(text.split()), final=True)


def mock_mode(request: ModelRequest) -> str:
    """`echo` (legacy models), `fake` (registry prompts) or `agentic` (scripted turns)."""
    mock = request.target.mock
    return mock.answer if mock is not None else "echo"


def _agentic_turn(request: ModelRequest) -> agentic_mock.ScriptedTurn:
    mock = request.target.mock
    use_last = mock.use_last_human_message if mock is not None else True
    return agentic_mock.choose(request.messages, use_last)


def _count(request: ModelRequest) -> int:
    return sum(len(m.content.split()) for m in request.messages) + len(request.prefix.split())


async def _sleep_ms(ms: int) -> None:
    if ms > 0:
        await asyncio.sleep(ms / 1000)


async def _agentic_stream(request: ModelRequest) -> AsyncIterator[Chunk]:
    """A `stream='true'` turn goes out word by word, then its tool calls as ~100-char JSON
    pieces (§4.3), `chunk_delay_ms` apart; otherwise the content in one chunk and the tool
    calls whole in the final one."""
    turn = _agentic_turn(request)
    await _sleep_ms(turn.latency_ms)
    chunks = [Chunk(text=piece) for piece in (turn.pieces() if turn.stream else [turn.content])]
    if turn.stream:
        chunks += [Chunk(text="", tool_call_chunks=[p]) for p in tool_call_pieces(turn.tool_calls)]
    for index, chunk in enumerate(chunks):
        if index:
            await _sleep_ms(turn.chunk_delay_ms)
        yield chunk
    yield Chunk(
        text="",
        input_tokens=_count(request),
        output_tokens=len(turn.content.split()),
        final=True,
        tool_calls=[] if turn.stream else list(turn.tool_calls),
    )
