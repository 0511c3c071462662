"""ModelRequest <-> OpenAI bodies for the vLLM backend, without vLLM or Ray."""

from __future__ import annotations

import json

import pytest

from core.errors import BadRequestError, ModelError, ModelRateLimited
from core.types import Message, ModelRequest, ModelTarget
from deployments.backends.vllm import protocol
from deployments.backends.vllm.spec import CustomModelSpec

TARGET = ModelTarget(backend="vllm:m", engine="vllm", name="m")


def spec(**kw) -> CustomModelSpec:
    return CustomModelSpec(name="m", model_source="/models/m", **kw)


def test_completion_body_uses_family_fim_and_stop_tokens():
    req = ModelRequest(target=TARGET, prefix="def f():\n", suffix="\nprint(f())", max_tokens=32)
    body = protocol.request_body(req, spec(family=("codestral", "mistral")), stream=False)
    assert body["prompt"] == "[SUFFIX]\nprint(f())[PREFIX]def f():\n[MIDDLE]"
    assert body["model"] == "m" and body["max_tokens"] == 32 and body["stream"] is False
    assert "[PREFIX]" in body["stop"] and "\n\n" in body["stop"]
    assert "stream_options" not in body


def test_completion_without_fim_family_sends_prefix_only():
    req = ModelRequest(target=TARGET, prefix="a = 1\n", suffix="b = 2")
    body = protocol.request_body(req, spec(family=("llama3",)), stream=True)
    assert body["prompt"] == "a = 1\n"
    assert "stop" not in body
    assert body["stream_options"] == {"include_usage": True}


def test_explicit_fim_template_and_stop_override_family():
    req = ModelRequest(target=TARGET, prefix="P", suffix="S", stop=["END"])
    s = spec(family=("codellama",), fim_template="<a>{prefix}<b>{suffix}<c>", stop=("X",))
    body = protocol.request_body(req, s, stream=False)
    assert body["prompt"] == "<a>P<b>S<c>"
    assert body["stop"] == ["END", "X"]


def test_prompt_is_left_truncated_to_fit_the_context_window():
    s = spec(engine_kwargs={"max_model_len": 512}, params={"max_tokens": 100})
    body = protocol.request_body(ModelRequest(target=TARGET, prefix="x"), s, stream=False)
    assert body["max_tokens"] == 100
    assert body["truncate_prompt_tokens"] == 412
    huge = ModelRequest(target=TARGET, prefix="x", max_tokens=10_000)
    body = protocol.request_body(huge, s, stream=False)
    assert body["max_tokens"] == 512 - protocol.MIN_PROMPT_TOKENS
    assert body["truncate_prompt_tokens"] == protocol.MIN_PROMPT_TOKENS


def test_sampling_defaults_come_from_spec_and_request_wins():
    s = spec(params={"temperature": 0.2, "top_p": 0.9}, sampling={"repetition_penalty": 1.1})
    req = ModelRequest(target=TARGET, prefix="x", temperature=0.7)
    body = protocol.request_body(req, s, stream=False)
    assert body["temperature"] == 0.7 and body["top_p"] == 0.9
    assert body["repetition_penalty"] == 1.1
    assert "top_k" not in body


def test_chat_body_carries_messages():
    req = ModelRequest(
        target=TARGET,
        kind="chat",
        messages=[Message(role="system", content="be brief"), Message(role="user", content="hi")],
    )
    body = protocol.request_body(req, spec(), stream=False)
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert "prompt" not in body
    assert body["max_tokens"] == protocol.DEFAULT_MAX_TOKENS["chat"]


def test_stream_events_become_chunks_with_a_final_usage_chunk():
    events = (
        "".join(
            f"data: {json.dumps(e)}\n\n"
            for e in (
                {"choices": [{"text": "ab", "finish_reason": None}]},
                {"choices": [{"delta": {"content": "cd"}, "finish_reason": "length"}]},
                {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}},
            )
        )
        + "data: [DONE]\n\n"
    )
    chunks = [c for p in protocol.parse_sse(events) for c in protocol.chunks_of(p)]
    assert [c.text for c in chunks] == ["ab", "cd", ""]
    assert chunks[1].finish_reason == "length"
    assert chunks[-1].final and chunks[-1].input_tokens == 4 and chunks[-1].output_tokens == 2
    # A non-streamed generation is the same stream, collected.
    result = protocol.result_of(chunks)
    assert (result.text, result.input_tokens, result.output_tokens) == ("abcd", 4, 2)
    assert result.finish_reason == "length"


@pytest.mark.parametrize(
    ("code", "error"), [(400, BadRequestError), (429, ModelRateLimited), (500, ModelError)]
)
def test_engine_errors_map_to_gateway_errors(code, error):
    payload = {"error": {"message": "context too long", "type": "BadRequestError", "code": code}}
    with pytest.raises(error):
        list(protocol.chunks_of(payload))


def test_payloads_of_what_the_llm_server_yields():
    class Response:
        def model_dump(self):
            return {"choices": [{"text": "x"}]}

    batch = ['data: {"choices": [{"text": "a"}]}\n\n', "data: [DONE]\n\n"]
    assert protocol.payloads_of(batch) == [{"choices": [{"text": "a"}]}]
    assert protocol.payloads_of(Response()) == [{"choices": [{"text": "x"}]}]
    assert protocol.payloads_of({"error": {"code": 400}}) == [{"error": {"code": 400}}]


def test_correlation_id_tags_the_engine_request_uniquely():
    req = ModelRequest(target=TARGET, prefix="x", correlation_id="corr-1")
    first = protocol.request_body(req, spec(), stream=False)["request_id"]
    second = protocol.request_body(req, spec(), stream=False)["request_id"]
    assert first.startswith("corr-1-") and first != second
    assert "request_id" not in protocol.request_body(
        ModelRequest(target=TARGET, prefix="x"), spec(), stream=False
    )
