"""A Duo Chat agent stream cut in the middle of a tool call, after its thought was streamed,
continues on the next attempt: the client gets one whole `action` event and no error, and the
next attempt is asked to continue from the thought (no Ray; the model is scripted)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from core.errors import ModelError
from core.types import Chunk, Message, ModelRequest, ModelResult, ToolCallChunk
from tests.unit.chat.conftest import chat_client

THOUGHT = "I should search the docs."


class CutInATool:
    """Claude's backend: the first stream is cut after half a tool call's arguments; the
    next one makes the call whole."""

    def __init__(self) -> None:
        self.calls: list[ModelRequest] = []

    async def check(self) -> bool:
        return True

    async def generate(self, request: ModelRequest) -> ModelResult:
        raise AssertionError("the agent streams")

    async def stream(self, request: ModelRequest) -> AsyncIterator[Chunk]:
        self.calls.append(request)
        head = ToolCallChunk(index=0, id="toolu_1", name="gitlab_documentation")
        if len(self.calls) == 1:
            yield Chunk(text=THOUGHT)
            yield Chunk(text="", tool_call_chunks=[head])
            yield Chunk(text="", tool_call_chunks=[ToolCallChunk(index=0, args='{"query": "me')])
            raise ModelError("connection lost")  # a cut: another attempt may continue
        yield Chunk(text="", tool_call_chunks=[head])
        yield Chunk(text="", tool_call_chunks=[ToolCallChunk(index=0, args='{"query": ')])
        yield Chunk(text="", tool_call_chunks=[ToolCallChunk(index=0, args='"merge requests"}')])
        yield Chunk(text="", input_tokens=30, output_tokens=12, final=True)


def test_a_cut_inside_a_tool_call_resumes_and_the_client_gets_one_whole_action() -> None:
    model = CutInATool()
    settings = {"mock_model_responses": False, "anthropic_api_key": "sk-ant-server"}
    with chat_client(settings=settings, backends={"anthropic": model}) as client:
        body = {"messages": [{"role": "user", "content": "How do merge requests work?"}]}
        r = client.post("/v2/chat/agent", json=body)
    assert r.status_code == 200
    events = [json.loads(line) for line in r.text.splitlines()]
    assert [e["type"] for e in events] == ["action", "usage"], events
    action = events[0]["data"]
    assert action["tool"] == "gitlab_documentation" and action["thought"] == THOUGHT
    assert json.loads(action["tool_input"]) == {"query": "merge requests"}
    assert len(model.calls) == 2
    assert model.calls[1].messages[-1] == Message(role="assistant", content=THOUGHT)
