"""The chat agent and a registry prompt answered by the embedded model through Ray Serve:
real tokens stream out as NDJSON final-answer deltas before the model finishes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

pytest.importorskip("llama_cpp")

from tests.integration.conftest import BYPASS, TEST_SETTINGS, deploy, wait_ready

pytestmark = pytest.mark.serve
PREFIX = "/chat_local"


@pytest.fixture(scope="module")
def local_chat(serve_instance: str) -> Iterator[httpx.Client]:
    from serve_app.app import build_app

    settings = {**TEST_SETTINGS, "mock_model_responses": False}
    deploy(build_app({"settings": settings}), "aigw_chat_local", PREFIX)
    url = f"{serve_instance}{PREFIX}"
    wait_ready(url, timeout_s=120)  # ready once the model is loaded
    with httpx.Client(base_url=url, headers=BYPASS, timeout=120) as client:
        yield client


def test_agent_streams_real_tokens(local_chat):
    body = {"messages": [{"role": "user", "content": "Explain what git is in two sentences."}]}
    arrivals = []
    started = time.perf_counter()
    with local_chat.stream("POST", "/v2/chat/agent", json=body) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line:
                arrivals.append((time.perf_counter() - started, json.loads(line)))
    deltas = [
        (t, e) for t, e in arrivals if e["type"] == "final_answer_delta" and e["data"]["text"]
    ]
    assert len(deltas) > 3 and "".join(e["data"]["text"] for _, e in deltas).strip()
    assert arrivals[-1][1]["type"] == "usage"
    first, last = deltas[0][0], arrivals[-1][0]
    print(f"embedded model: first delta {first:.3f}s, end {last:.3f}s, {len(deltas)} deltas")
    assert first < last


def test_prompt_with_real_usage(local_chat):
    body = {"inputs": {"notes_content": "Alice: ship Friday.\nBob: tests first."}}
    answer = local_chat.post("/v2/prompts/summarize_comments", json=body).json()
    assert answer["content"].strip()
    (counts,) = answer["usage"].values()
    assert counts["input_tokens"] > 20 and counts["output_tokens"] > 0
