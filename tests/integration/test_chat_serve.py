"""Chat and the prompts API through a real Ray Serve graph, in both mock modes.

Two apps of our own: the agentic mock at `/chat_agentic`, plain mock mode at `/chat_mock`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import BYPASS, TEST_SETTINGS, deploy, wait_ready

pytestmark = pytest.mark.serve

AGENTIC_PREFIX = "/chat_agentic"
MOCK_PREFIX = "/chat_mock"


def _app(name: str, prefix: str, base: str, settings: dict) -> str:
    from serve_app.app import build_app

    deploy(build_app({"settings": {**TEST_SETTINGS, **settings}}), name, prefix)
    url = f"{base}{prefix}"
    wait_ready(url)
    return url


@pytest.fixture(scope="module")
def agentic(serve_instance: str) -> Iterator[httpx.Client]:
    url = _app("aigw_chat_agentic", AGENTIC_PREFIX, serve_instance, {"use_agentic_mock": True})
    with httpx.Client(base_url=url, headers=BYPASS, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def mocked(serve_instance: str) -> Iterator[httpx.Client]:
    url = _app("aigw_chat_mock", MOCK_PREFIX, serve_instance, {})
    with httpx.Client(base_url=url, headers=BYPASS, timeout=30) as client:
        yield client


def v1_chat(content, stream=False):
    payload = {"content": content}
    meta = {"source": "GitLab EE", "version": "17.2.0"}
    return {
        "prompt_components": [{"type": "prompt", "metadata": meta, "payload": payload}],
        "stream": stream,
    }


def agent_body(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}]}


def test_agent_streams_the_first_delta_long_before_the_end(agentic):
    words = " ".join(f"word{i}" for i in range(12))
    script = (
        f"<response stream='true' chunk_delay_ms='150'>Thought: easy Final Answer: {words}"
        "</response>"
    )
    arrivals: list[tuple[float, dict]] = []
    started = time.perf_counter()
    with agentic.stream("POST", "/v2/chat/agent", json=agent_body(script)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson; charset=utf-8"
        assert response.headers["x-gateway-route"] == "served=agentic-fake-model"
        for line in response.iter_lines():
            if line:
                arrivals.append((time.perf_counter() - started, json.loads(line)))
    events = [event for _, event in arrivals]
    deltas = [(t, e) for t, e in arrivals if e["type"] == "final_answer_delta"]
    assert "".join(e["data"]["text"] for _, e in deltas) == words
    assert events[-1]["type"] == "usage"
    assert [e["type"] for e in events[:-1]] == ["final_answer_delta"] * len(deltas)
    first, last = deltas[0][0], arrivals[-1][0]
    print(f"first final-answer delta at {first:.3f}s, stream ended at {last:.3f}s")
    # 16 chunks 150 ms apart: the answer starts after ~4 chunks, the stream ends ~1.8 s later
    assert last - first > 1.0, (first, last)


def test_agent_action_then_replay_and_exhaustion(agentic):
    script = (
        "<response>Thought: need it\nAction: issue_reader\nAction Input: #9</response>"
        "<response>Thought: ok\nFinal Answer: Issue 9 is fixed.</response>"
    )
    first = [
        json.loads(x)
        for x in agentic.post("/v2/chat/agent", json=agent_body(script)).text.splitlines()
    ]
    assert first[0] == {
        "type": "action",
        "data": {"tool": "issue_reader", "tool_input": "#9", "thought": "need it"},
    }
    step = {
        "thought": "need it",
        "tool": "issue_reader",
        "tool_input": "#9",
        "observation": "closed",
    }
    body = {
        **agent_body(script),
        "options": {"agent_scratchpad": {"agent_type": "react", "steps": [step]}},
    }
    second = [json.loads(x) for x in agentic.post("/v2/chat/agent", json=body).text.splitlines()]
    assert second[0]["data"]["text"] == "Issue 9 is fixed."


def test_agentic_mock_fixed_messages_and_file_responses(agentic, tmp_path):
    none = agentic.post("/v2/prompts/summarize_comments", json={"inputs": {"notes_content": "hi"}})
    assert none.json()["content"] == "mock response (no response tag specified)"
    bad = agentic.post(
        "/v1/prompts/summarize_comments",
        json={"inputs": {"notes_content": "<response>a & b</response>"}},
    )
    assert bad.json() == "mock response (invalid xml)"
    answer = tmp_path / "answer.md"
    answer.write_text("Summary for {{ team }}")
    notes = f"{{% set team = 'platform' %}}<response file='{answer}' latency_ms='50'/>"
    loaded = agentic.post(
        "/v1/prompts/summarize_comments", json={"inputs": {"notes_content": notes}}
    )
    assert loaded.json() == "Summary for platform"


def test_prompts_plain_mock_and_errors(mocked):
    body = {"inputs": {"diff": "+x"}}
    assert mocked.post("/v1/prompts/generate_commit_message", json=body).json() == "mock"
    v2 = mocked.post("/v2/prompts/generate_commit_message", json=body).json()
    assert v2["content"] == "mock" and "usage" in v2
    streamed = mocked.post("/v2/prompts/generate_commit_message", json={**body, "stream": True})
    lines = [json.loads(line) for line in streamed.text.splitlines()]
    assert "".join(line["content"] for line in lines) == "mock"
    assert mocked.post("/v1/prompts/no/such/prompt", json=body).status_code == 404
    assert mocked.post("/v1/prompts/chat/react", json=body).status_code == 422
    assert (
        mocked.post("/v1/prompts/generate_commit_message", json={"inputs": {}}).status_code == 422
    )
    wrong = mocked.post(
        "/v1/prompts/generate_commit_message", json={**body, "prompt_version": "^9"}
    )
    assert wrong.status_code == 400


def test_v1_chat_echo_json_and_stream(mocked):
    r = mocked.post("/v1/chat/explain_code", json=v1_chat([{"role": "user", "content": "hi"}]))
    assert r.status_code == 200
    assert json.loads(r.json()["response"][len("echo: ") :])["messages"][0]["content"] == "hi"
    with mocked.stream("POST", "/v1/chat/troubleshoot_job", json=v1_chat("log", stream=True)) as s:
        assert s.status_code == 200
        text = b"".join(s.iter_raw()).decode()
    assert text.startswith("echo: ") and json.loads(text[6:])["stream"] is True
    assert mocked.post("/v1/chat/unknown", json=v1_chat("x")).json() == {"detail": "Not found"}


def test_agent_plain_mock_and_bad_requests(mocked):
    events = [
        json.loads(x)
        for x in mocked.post("/v2/chat/agent", json=agent_body("hi")).text.splitlines()
    ]
    assert events[0] == {"type": "unknown", "data": {"text": "mock"}}
    bad = {"messages": [{"role": "user", "content": "x", "agent_scratchpad": []}]}
    assert mocked.post("/v2/chat/agent", json=bad).status_code == 400


def test_directory_structure_without_a_token(serve_instance, mocked):
    r = httpx.get(f"{serve_instance}{MOCK_PREFIX}/prompt_directory_structure", timeout=30)
    assert r.status_code == 200 and r.json()["chat"]["react"]["base"] == ["1.0.0"]
    denied = httpx.post(
        f"{serve_instance}{MOCK_PREFIX}/v2/chat/agent", json=agent_body("x"), timeout=30
    )
    assert denied.status_code == 401
