"""Chat and prompts answered by the embedded model (real llama.cpp tokens, no key, no Ray)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

pytest.importorskip("llama_cpp")

from core.settings import LocalModelSettings
from deployments.backends.local import LocalBackend
from tests.unit.chat.conftest import chat_client


@pytest.fixture(scope="module")
def local() -> Iterator[LocalBackend]:
    backend = LocalBackend(LocalModelSettings())
    yield backend
    backend.close()


@pytest.fixture
def client(local):
    with chat_client(settings={"mock_model_responses": False}, backends={"local": local}) as c:
        yield c


def test_agent_answers_with_real_tokens_as_final_answer_deltas(client):
    body = {"messages": [{"role": "user", "content": "What is a merge request? One sentence."}]}
    response = client.post("/v2/chat/agent", json=body)
    assert response.status_code == 200
    events = [json.loads(line) for line in response.text.splitlines()]
    deltas = [e for e in events if e["type"] == "final_answer_delta"]
    assert "".join(e["data"]["text"] for e in deltas).strip()  # the smollm2 prefill primes it
    assert events[-1]["type"] == "usage"
    (counts,) = events[-1]["data"]["usage"].values()
    assert counts["input_tokens"] > 20 and counts["output_tokens"] > 0


def test_prompts_v2_with_usage_and_v1_stream(client):
    body = {"inputs": {"diff": "+def add(a, b):\n+    return a + b\n"}}
    v2 = client.post("/v2/prompts/generate_commit_message", json=body).json()
    assert v2["content"].strip()
    (counts,) = v2["usage"].values()
    assert counts["input_tokens"] > 20
    streamed = client.post("/v1/prompts/generate_commit_message", json={**body, "stream": True})
    assert streamed.status_code == 200 and streamed.text.strip()


def test_v1_chat_messages(client):
    body = {
        "prompt_components": [
            {
                "type": "prompt",
                "metadata": {"source": "GitLab EE", "version": "17.2.0"},
                "payload": {
                    "content": [{"role": "user", "content": "Say hello."}],
                    "params": {"max_tokens_to_sample": 16},
                },
            }
        ]
    }
    response = client.post("/v1/chat/explain_code", json=body).json()
    assert response["response"].strip()
    assert response["metadata"]["model"] == "SmolLM2-135M-Instruct.Q4_1"
