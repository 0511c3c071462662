"""v3 (raw text) and v4 (SSE) code suggestions over plain classes."""

from __future__ import annotations

import json

import pytest

from tests.payloads import parse_sse, v3_body
from tests.unit.conftest import ScriptedBackend, make_client


@pytest.mark.parametrize("path", ["/v3/code/completions", "/v4/code/suggestions"])
def test_non_streaming_response_shape(client, path):
    r = client.post(path, json=v3_body())
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == {"engine": "llm-provider-mocked", "name": "llm-mocked", "lang": "go"}
    assert body["metadata"]["model"] == body["model"]
    assert isinstance(body["metadata"]["timestamp"], int)
    assert body["metadata"]["enabled_feature_flags"] == []
    [choice] = body["choices"]
    assert choice["text"].startswith("echo: ")


def test_v4_stream_is_sse_in_the_contract_order(client):
    with client.stream("POST", "/v4/code/suggestions", json=v3_body(stream=True)) as r:
        assert r.status_code == 200
        assert r.headers["x-streaming-format"] == "sse"
        assert r.headers["content-type"].startswith("text/event-stream")
        text = r.read().decode()
    events = parse_sse(text)
    assert events[0][0] == "stream_start"
    start = json.loads(events[0][1])["metadata"]
    assert start["model"] == {"engine": "llm-provider-mocked", "name": "llm-mocked"}
    assert events[-1] == ("stream_end", "null")
    chunks = [json.loads(data) for event, data in events[1:-1]]
    assert all(event == "content_chunk" for event, _ in events[1:-1])
    assert len(chunks) > 3
    content = "".join(c["choices"][0]["delta"]["content"] for c in chunks)
    assert content.startswith("echo: ")
    assert json.loads(content[len("echo: ") :])["stream"] is True


def test_v3_stream_is_raw_text(client):
    r = client.post("/v3/code/completions", json=v3_body(stream=True))
    assert r.status_code == 200
    assert r.text.startswith("echo: {")
    assert "event:" not in r.text


def test_generation_component_is_served(client):
    r = client.post("/v4/code/suggestions", json=v3_body("code_editor_generation", prompt_id=None))
    assert r.status_code == 200
    assert r.json()["model"]["engine"] == "chat-model-provider-mocked"


def test_code_context_only_with_a_recent_language_server(client):
    body = v3_body()
    body["prompt_components"].append(
        {
            "type": "code_context",
            "payload": {"type": "file", "name": "util.go", "content": "func helper() {}"},
        }
    )
    old = client.post(
        "/v3/code/completions", json=body, headers={"x-gitlab-language-server-version": "7.17.0"}
    )
    new = client.post(
        "/v3/code/completions", json=body, headers={"x-gitlab-language-server-version": "7.17.1"}
    )
    assert "func helper() {}" not in old.json()["choices"][0]["text"]
    assert "func helper() {}" in new.json()["choices"][0]["text"]


@pytest.mark.parametrize(
    "body",
    [
        {"prompt_components": []},
        {"prompt_components": [{"type": "unknown", "payload": {}}]},
        {
            "prompt_components": [
                {"type": "code_context", "payload": {"type": "f", "name": "n", "content": "c"}}
            ]
        },
        {
            "prompt_components": [
                {"type": "code_editor_completion", "payload": {"file_name": "a.py"}}
            ]
        },
    ],
)
def test_bad_components_are_422(client, body):
    r = client.post("/v4/code/suggestions", json=body)
    assert r.status_code == 422
    assert isinstance(r.json()["detail"], str)


def test_too_many_components_is_422(client):
    body = v3_body()
    body["prompt_components"] += [
        {"type": "code_context", "payload": {"type": "file", "name": "a", "content": "x"}}
    ] * 100
    assert client.post("/v4/code/suggestions", json=body).status_code == 422


def test_v4_stream_that_breaks_ends_with_an_error_event_not_stream_end():
    backend = ScriptedBackend(RuntimeError("connection reset"), chunks=("par", "tial"))
    client = make_client({"auth": {"bypass_external": True}}, backend)
    with client.stream("POST", "/v4/code/suggestions", json=v3_body(stream=True)) as r:
        events = parse_sse(r.read().decode())
    names = [name for name, _ in events]
    assert names[:3] == ["stream_start", "content_chunk", "content_chunk"]
    assert names[-1] == "error"
    assert "stream_end" not in names


@pytest.mark.parametrize(
    ("version", "advanced"),
    [
        ("7.17.0-rc1", False),
        ("7.17.1-rc.2", False),
        ("7.17.0", False),
        ("7.9.9", False),
        ("7.17.1", True),
        ("7.18.0-rc1", True),
        ("v8.0.0", True),
    ],
)
def test_language_server_version_gate_reads_pre_releases(version, advanced):
    from serve_app.api.context import version_at_least

    assert version_at_least(version, (7, 17, 1)) is advanced
