"""Every answer of a route that calls a model names, in `X-Gateway-Route` and in the access
log's `gateway_route`, the model that served it (issue 15 item 7), streamed or not; the chat
agent holds its response head until the model's first content, so its stream does too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from core.errors import ModelError
from routing.resilience.policy import RoutingPolicy
from tests.payloads import v2_body, v3_body
from tests.unit.chat.conftest import chat_client
from tests.unit.conftest import ScriptedBackend
from tests.unit.observability_helpers import LogCapture

TEXT, CHAT, FAKE = "llm-mocked", "chat-model-mocked", "fake-model"  # mock mode's models
AGENT = {"messages": [{"role": "user", "content": "How do I rebase?"}]}
COMMIT = {"inputs": {"diff": "+print('hi')"}}


def v1_chat(stream: bool) -> dict[str, Any]:
    payload = {"content": [{"role": "user", "content": "hi"}]}
    metadata = {"source": "GitLab EE", "version": "17.2.0"}
    return {
        "prompt_components": [{"type": "prompt", "metadata": metadata, "payload": payload}],
        "stream": stream,
    }


def generation(stream: bool) -> dict[str, Any]:
    return v3_body("code_editor_generation", stream=stream, prompt="add two numbers")


# (path, body, the mock model that answers it): a chat call, a generation and a registry
# prompt are answered by another mock than the one routing chose for the feature.
CALLS = [
    ("/v1/chat/explain_code", v1_chat(False), CHAT),
    ("/v1/chat/explain_code", v1_chat(True), CHAT),
    ("/v2/chat/agent", AGENT, FAKE),
    ("/v1/prompts/generate_commit_message", COMMIT, FAKE),
    ("/v1/prompts/generate_commit_message", {**COMMIT, "stream": True}, FAKE),
    ("/v2/prompts/generate_commit_message", COMMIT, FAKE),
    ("/v2/prompts/generate_commit_message", {**COMMIT, "stream": True}, FAKE),
    ("/v2/code/completions", v2_body(), TEXT),
    ("/v2/code/completions", v2_body(stream=True), TEXT),
    ("/v2/completions", v2_body(stream=True), TEXT),
    ("/v2/code/generations", v2_body(), CHAT),
    ("/v2/code/generations", v2_body(stream=True), CHAT),
    ("/v3/code/completions", v3_body(stream=True), TEXT),
    ("/v3/code/completions", generation(False), CHAT),
    ("/v3/code/completions", generation(True), CHAT),
    ("/v4/code/suggestions", v3_body(), TEXT),
    ("/v4/code/suggestions", generation(False), CHAT),
    ("/v4/code/suggestions", generation(True), CHAT),
]


@pytest.fixture
def capture() -> Iterator[LogCapture]:
    cap = LogCapture()
    yield cap
    cap.pipeline.stop()


def test_every_model_answer_names_what_served_it_in_the_header_and_the_access_log(
    capture: LogCapture,
) -> None:
    client = chat_client()
    headers = []
    for path, body, model in CALLS:
        r = client.post(path, json=body)
        assert r.status_code == 200, (path, r.text)
        headers.append(r.headers.get("x-gateway-route"))
        assert headers[-1] == f"served={model}", (path, body)
    access = [line for line in capture.lines() if line.get("logger") == "api.access"]
    assert [line.get("gateway_route") for line in access] == headers


def test_with_the_policy_off_the_answer_still_names_what_served_it() -> None:
    client = chat_client()
    off = RoutingPolicy.model_validate({"enabled": False, "version": "off"})
    client.app.state.gateway.resilience.reload(off)  # type: ignore[attr-defined]
    for path, body, model in CALLS[1:3] + CALLS[7:9]:
        r = client.post(path, json=body)
        assert r.headers.get("x-gateway-route") == f"served={model}; policy=off", path


def test_agent_failing_before_content_answers_its_error_event_with_the_route() -> None:
    backend = ScriptedBackend(error=ModelError("bad", upstream_status=400))
    r = chat_client(backend=backend).post("/v2/chat/agent", json=AGENT)
    assert r.status_code == 200
    assert [json.loads(line)["type"] for line in r.text.splitlines()] == ["error"]
    assert r.headers["x-gateway-route"] == f"served=-; tried={FAKE}:400"


def test_agent_failing_after_content_keeps_the_route_of_its_first_content() -> None:
    backend = ScriptedBackend(
        error=ModelError("bad", upstream_status=400), chunks=("Final Answer: par",)
    )
    r = chat_client(backend=backend).post("/v2/chat/agent", json=AGENT)
    events = [json.loads(line) for line in r.text.splitlines()]
    assert events[0]["type"] == "final_answer_delta" and events[-1]["type"] == "error"
    assert r.headers["x-gateway-route"] == f"served={FAKE}"
