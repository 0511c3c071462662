"""A chat, agent or registry-prompt request that falls back from Claude to the embedded model
is sent the embedded model's own prompt (the registry's definition for its family), with
its own stops and sampling, and the answer names the model that served. Claude is the real
Anthropic SDK against the fake; the embedded model's backend records what it was sent and
answers a fixed text (no llama.cpp, no Ray)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi.testclient import TestClient

from core.settings import Config
from core.types import Chunk, ModelRequest, ModelResult
from deployments.backends.anthropic import AnthropicBackend
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.server import Behaviour
from tests.unit.chat.conftest import chat_client

CLAUDE, LOCAL = "claude_sonnet_4_5_20250929", "smollm2_135m_local"
LOCAL_NAME = "SmolLM2-135M-Instruct.Q4_1"  # how answers name it (its provider model)
ANSWER = ("A merge request ", "proposes changes.")
SMOLLM2_STOPS = ["<|im_end|>", "<|im_start|>", "<|endoftext|>"]


class EmbeddedModel:
    """The embedded model's backend: records each call and streams a fixed answer."""

    def __init__(self) -> None:
        self.calls: list[ModelRequest] = []

    async def check(self) -> bool:
        return True

    async def generate(self, request: ModelRequest) -> ModelResult:
        self.calls.append(request)
        return ModelResult(text="".join(ANSWER), input_tokens=40, output_tokens=5)

    async def stream(self, request: ModelRequest) -> AsyncIterator[Chunk]:
        self.calls.append(request)
        for piece in ANSWER:
            yield Chunk(text=piece)
        yield Chunk(text="", input_tokens=40, output_tokens=5, final=True)


@pytest.fixture
def overloaded(fake_anthropic: FakeAnthropic) -> Iterator[tuple[TestClient, EmbeddedModel]]:
    """Claude answers 529 to both attempts the policy allows it."""
    fake_anthropic.will(*[Behaviour(kind="status", status=529)] * 2)
    settings = {
        "mock_model_responses": False,
        "anthropic_api_key": "sk-ant-server",
        "anthropic_base_url": fake_anthropic.url,
    }
    anthropic = AnthropicBackend(Config(**settings).anthropic_backend())
    local = EmbeddedModel()
    with chat_client(settings=settings, backends={"anthropic": anthropic, "local": local}) as c:
        yield c, local
    assert len(fake_anthropic.received) == 2  # Claude was tried first, as routed


def test_agent_fallback_gets_the_embedded_models_react_prompt(
    overloaded: tuple[TestClient, EmbeddedModel],
) -> None:
    client, local = overloaded
    body = {"messages": [{"role": "user", "content": "What is a merge request?"}]}
    r = client.post("/v2/chat/agent", json=body)
    assert r.status_code == 200
    (call,) = local.calls
    # The smollm2 definition: no tools to use, the final answer asked for directly.
    assert call.messages[0].content.startswith("You are GitLab Duo Chat, a helpful assistant")
    assert call.messages[-1].role == "assistant" and call.messages[-1].content == "Final Answer:"
    assert call.stop[:4] == [*SMOLLM2_STOPS, "Observation:"] and call.max_tokens == 256
    events = [json.loads(line) for line in r.text.splitlines()]
    deltas = [e["data"]["text"] for e in events if e["type"] == "final_answer_delta"]
    assert "".join(deltas) == "".join(ANSWER)  # parsed from the fallback's own prefill
    assert list(events[-1]["data"]["usage"]) == [LOCAL_NAME]
    # The stream's head waited for the fallback's first content, so it names it.
    route = f"served={LOCAL}; tried={CLAUDE}:529,{CLAUDE}:529; fallback=1"
    assert r.headers["x-gateway-route"] == route


def test_registry_prompt_fallback_is_rendered_for_the_fallbacks_family(
    overloaded: tuple[TestClient, EmbeddedModel], fake_anthropic: FakeAnthropic
) -> None:
    client, local = overloaded
    body = {"inputs": {"diff": "+def add(a, b):\n+    return a + b\n"}}
    r = client.post("/v2/prompts/generate_commit_message", json=body)
    assert r.status_code == 200 and r.json()["content"] == "".join(ANSWER)
    assert list(r.json()["usage"]) == [LOCAL_NAME]
    assert r.headers["x-gateway-route"].startswith(f"served={LOCAL}; tried={CLAUDE}:529")
    (call,) = local.calls
    sent_to_claude = fake_anthropic.received[0].json()["system"]
    assert "XML-style tags" in json.dumps(sent_to_claude)  # Claude's own wording
    assert call.messages[0].content.startswith("You write clear, conventional git commit")
    assert "XML-style tags" not in call.messages[0].content
    assert call.stop == SMOLLM2_STOPS and call.temperature == 0.2 and call.max_tokens == 256


def test_v1_chat_fallback_keeps_the_callers_prompt_with_the_fallbacks_parameters(
    overloaded: tuple[TestClient, EmbeddedModel],
) -> None:
    client, local = overloaded
    payload = {
        "content": [{"role": "user", "content": "Say hello."}],
        "params": {"max_tokens_to_sample": 16},
    }
    metadata = {"source": "GitLab EE", "version": "17.2.0"}
    body = {"prompt_components": [{"type": "prompt", "metadata": metadata, "payload": payload}]}
    r = client.post("/v1/chat/explain_code", json=body)
    assert r.status_code == 200 and r.json()["response"] == "".join(ANSWER)
    assert r.json()["metadata"]["model"] == LOCAL_NAME
    (call,) = local.calls
    assert call.target.backend == "local" and call.messages[-1].content == "Say hello."
    assert call.temperature == 0.2  # the embedded model's default, not Claude's
