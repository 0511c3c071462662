"""The v2 code-suggestion endpoints over plain classes: shapes, limits, errors."""

from __future__ import annotations

import json

import pytest

from core.errors import ModelRateLimited
from deployments.backends.common import unexpected
from tests.payloads import v2_body
from tests.unit.conftest import ScriptedBackend, make_client

PATHS = ["/v2/completions", "/v2/code/completions"]


def echo_of(text: str) -> dict:
    assert text.startswith("echo: ")
    return json.loads(text[len("echo: ") :])


@pytest.mark.parametrize("path", PATHS)
def test_completion_response_has_the_contract_shape(client, path):
    r = client.post(path, json=v2_body())
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == "id"
    assert body["object"] == "text_completion"
    assert body["experiments"] == []
    assert isinstance(body["created"], int)
    assert body["model"]["engine"] == "llm-provider-mocked"
    assert body["model"]["lang"] == "python"
    assert set(body["model"]["tokens_consumption_metadata"]) == {
        "input_tokens",
        "output_tokens",
        "max_output_tokens_used",
        "context_tokens_sent",
        "context_tokens_used",
    }
    [choice] = body["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "length"
    echoed = echo_of(choice["text"])
    assert echoed["prefix"] == "def greet(name):\n    "
    assert echoed["suffix"] == "\n\nprint(greet('x'))\n"
    assert echoed["stream"] is False


def test_prompt_version_2_sends_the_callers_prompt(client):
    r = client.post("/v2/code/completions", json=v2_body(2))
    assert echo_of(r.json()["choices"][0]["text"])["prefix"] == "<prompt built by the caller>"


def test_prompt_version_3_sends_the_callers_messages(client):
    r = client.post("/v2/code/completions", json=v2_body(3))
    echoed = echo_of(r.json()["choices"][0]["text"])
    assert [m["role"] for m in echoed["messages"]] == ["system", "user"]
    assert r.json()["model"]["engine"] == "chat-model-provider-mocked"


def test_prompt_version_is_required_as_upstream_makes_it(client):
    body = v2_body()
    del body["prompt_version"]
    for path in ("/v2/code/completions", "/v2/code/generations"):
        r = client.post(path, json=body)
        assert r.status_code == 422 and r.json()["detail"] == "Validation error"


def test_a_json_body_without_content_type_is_still_read(client):
    body = json.dumps(v2_body()).encode()
    r = client.post("/v2/code/completions", content=body, headers={"Content-Type": ""})
    assert r.status_code == 200 and r.json()["choices"]


def test_generations_have_no_token_metadata_and_keep_a_leading_newline(client):
    r = client.post("/v2/code/generations", json=v2_body())
    assert r.status_code == 200
    model = r.json()["model"]
    assert "tokens_consumption_metadata" not in model
    text = r.json()["choices"][0]["text"]
    # The prefix ends without a newline, so the generation starts on a new line (§7.5).
    assert text.startswith("\necho: ")


def test_generation_v2_requires_a_prompt(client):
    body = v2_body(2)
    del body["prompt"]
    assert client.post("/v2/code/generations", json=body).status_code == 422


def test_stream_chunks_concatenate_to_the_echo(client):
    whole = client.post("/v2/code/completions", json=v2_body()).json()["choices"][0]["text"]
    with client.stream("POST", "/v2/code/completions", json=v2_body(stream=True)) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        pieces = list(r.iter_text())
    streamed = "".join(pieces)
    assert echo_of(streamed) == {**echo_of(whole), "stream": True}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b["current_file"].update(content_above_cursor="x" * 100_001),
        lambda b: b["current_file"].update(content_below_cursor="x" * 100_001),
        lambda b: b["current_file"].update(file_name="f" * 256),
        lambda b: b.update(model_name="m" * 51),
        lambda b: b.update(context=[{"type": "file", "name": "a", "content": "x"}] * 101),
        lambda b: b.update(telemetry=[{"requests": 1, "accepts": 1, "errors": 0}] * 11),
        lambda b: b.update(model_provider="not-a-provider"),
        lambda b: b.update(prompt_version=7),
        lambda b: b.update(stream="sometimes"),
        lambda b: b.pop("current_file"),
        lambda b: b["current_file"].pop("content_above_cursor"),
    ],
)
def test_bad_input_is_a_422_with_a_detail(client, mutate):
    body = v2_body()
    mutate(body)
    r = client.post("/v2/code/completions", json=body)
    assert r.status_code == 422
    assert r.json()["detail"] == "Validation error"
    # The offending input is not echoed back (it may be a customer's code).
    assert "xxxxxxxx" not in r.text


def test_limits_are_inclusive(client):
    body = v2_body()
    body["current_file"]["content_above_cursor"] = "x" * 100_000
    body["current_file"]["file_name"] = "  " + "f" * 255 + "  "  # stripped first
    assert client.post("/v2/code/completions", json=body).status_code == 200


def test_malformed_json_is_a_422(client):
    r = client.post(
        "/v2/code/completions",
        content=b'{"prompt_version": 1,',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["detail"] == "Validation error"


def test_custom_endpoint_is_refused_unless_enabled():
    body = v2_body(model_provider="litellm", model_endpoint="http://10.0.0.1:8000/v1")
    off = make_client({"auth": {"bypass_external": True}})
    r = off.post("/v2/code/completions", json=body)
    assert r.status_code == 422
    assert r.json() == {"detail": "specifying custom models endpoint is disabled"}


def test_backend_failure_is_503_inference_failed():
    # what every backend turns an unknown provider failure into (backends/common.py)
    client = make_client(
        {"auth": {"bypass_external": True}},
        ScriptedBackend(unexpected("mock", RuntimeError("boom"))),
    )
    r = client.post("/v2/code/completions", json=v2_body())
    assert r.status_code == 503
    assert r.json() == {"detail": "Inference failed"}
    assert "boom" not in r.text


def test_upstream_429_passes_retry_after():
    backend = ScriptedBackend(ModelRateLimited("slow down", retry_after="17"))
    client = make_client({"auth": {"bypass_external": True}}, backend)
    r = client.post("/v2/code/completions", json=v2_body())
    assert r.status_code == 429
    assert r.headers["retry-after"] == "17"
    assert r.json() == {"detail": "Too many requests. Please try again later."}


def test_stream_failing_before_first_chunk_gets_an_error_status():
    client = make_client(
        {"auth": {"bypass_external": True}},
        ScriptedBackend(unexpected("mock", RuntimeError("down"))),
    )
    r = client.post("/v2/code/completions", json=v2_body(stream=True))
    assert r.status_code == 503


def test_enabled_feature_flags_are_echoed_less_disallowed_ones():
    client = make_client(
        {
            "auth": {"bypass_external": True},
            "feature_flags": {"disallowed_flags": {"self-managed": ["expanded_ai_logging"]}},
        }
    )
    headers = {
        "x-gitlab-enabled-feature-flags": "flag_a, expanded_ai_logging,flag_b",
        "x-gitlab-realm": "self-managed",
    }
    r = client.post("/v2/code/completions", json=v2_body(), headers=headers)
    assert r.json()["metadata"]["enabled_feature_flags"] == ["flag_a", "flag_b"]
