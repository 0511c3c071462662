"""Chat and the prompts API through Ray Serve against the provider fakes: an app of our own at
`/chat_providers` whose AnthropicBackend and OpenAICompatBackend deployments use the real
`anthropic` / `openai` SDKs over loopback (API.md §1.6, §1.7, §6.1)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from routing.resilience.policy import RetryPolicy
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Behaviour
from tests.integration.conftest import FAULT_TEST_ROUTING, provider_gateway

pytestmark = pytest.mark.serve

KEY = "sk-self-hosted-abcdef"
CLAUDE = "claude-sonnet-4-5-20250929"  # Duo Chat's default model in configs/
COMMIT = {"inputs": {"diff": "+fix the typo"}}
# A model the client names is retried on itself only, never swapped (issue 15): the upstream's
# error reaches the client after the routing policy's attempts on it.
NAMED = {"provider": "gitlab", "identifier": "claude_sonnet_4_5_20250929"}
ATTEMPTS = RetryPolicy().attempts_per_target


@pytest.fixture(scope="module")
def chat(serve_instance: str, fakes: tuple[FakeOpenAI, FakeAnthropic]) -> Iterator[httpx.Client]:
    timeouts = {"first_byte_s": 1.0, "total_s": 1.5}
    yield from provider_gateway(
        serve_instance, fakes[1], "chat_providers", timeouts, FAULT_TEST_ROUTING
    )


def v1_chat(content: Any, stream: bool = False, **payload: Any) -> dict[str, Any]:
    meta = {"source": "GitLab EE", "version": "17.2.0"}
    return {
        "prompt_components": [
            {"type": "prompt", "metadata": meta, "payload": {"content": content, **payload}}
        ],
        "stream": stream,
    }


def agent_body(question: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": question}], **extra}


def ndjson(text: str) -> list[dict[str, Any]]:
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def self_hosted(fake: FakeOpenAI) -> dict[str, str]:
    """`model_metadata` as GitLab Rails sends it for a self-hosted model (API.md §6.1)."""
    return {
        "provider": "openai",
        "name": "mistral",
        "endpoint": f"{fake.url}/v1/",
        "api_key": KEY,
        "identifier": "custom_openai/mistral-7b-instruct",
    }


def test_v1_chat_message_list_goes_to_claude(
    chat: httpx.Client, anthropic_fake: FakeAnthropic
) -> None:
    anthropic_fake.will(Behaviour(text="It adds two numbers."))
    messages = [
        {"role": "system", "content": "You are Duo."},
        {"role": "user", "content": "What does add() do?"},
    ]
    params = {"max_tokens_to_sample": 8192, "temperature": 0.1, "stop_sequences": ["Observation:"]}
    r = chat.post(
        "/v1/chat/explain_code", json=v1_chat(messages, provider="anthropic", params=params)
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["response"] == "It adds two numbers."
    assert body["metadata"]["provider"] == "anthropic"
    assert body["metadata"]["model"] == CLAUDE
    sent = anthropic_fake.last
    auth = sent.headers.get("x-api-key") or sent.headers.get("authorization", "")
    assert auth.removeprefix("Bearer ") == "sk-ant-server"  # the SDK sends either header
    assert sent.json() == {
        "model": CLAUDE,
        "system": "You are Duo.",
        "messages": [{"role": "user", "content": "What does add() do?"}],
        "max_tokens": 4096,  # clamped for the Messages API
        "stop_sequences": ["Observation:"],
        "temperature": 0.1,
    }


def test_v1_chat_string_prompt_streams_raw_text(
    chat: httpx.Client, anthropic_fake: FakeAnthropic
) -> None:
    anthropic_fake.will(Behaviour(pieces=("Use ", "`git ", "rebase`", ".")))
    prompt = "\n\nHuman: How do I rebase?\n\nAssistant:"
    body = v1_chat(prompt, stream=True, model=CLAUDE, params={"max_tokens_to_sample": 8192})
    with chat.stream("POST", "/v1/chat/troubleshoot_job", json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = b"".join(r.iter_raw()).decode()
    assert text == "Use `git rebase`."
    sent = anthropic_fake.last.json()
    assert sent["stream"] is True and sent["model"] == CLAUDE
    assert sent["messages"] == [{"role": "user", "content": prompt}]
    assert sent["max_tokens"] == 8192  # a string prompt is not clamped
    assert sent["stop_sequences"] == ["\n\nHuman", "Observation:"]


def test_v1_chat_litellm_goes_to_the_callers_endpoint(
    chat: httpx.Client, openai_fake: FakeOpenAI
) -> None:
    openai_fake.will(Behaviour(text="Hello from Codestral"))
    payload = {
        "provider": "litellm",
        "model": "codestral",
        "model_endpoint": f"{openai_fake.url}/v1",
        "model_api_key": KEY,
        "model_identifier": "custom_openai/codestral-22b",
    }
    messages = [{"role": "user", "content": "hi"}]
    r = chat.post("/v1/chat/agent", json=v1_chat(messages, **payload))
    assert r.status_code == 200, r.text
    assert r.json()["response"] == "Hello from Codestral"
    assert r.json()["metadata"]["provider"] == "litellm"
    sent = openai_fake.last
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    body = sent.json()
    assert body["model"] == "codestral-22b"
    assert body["messages"] == messages
    # The caller's stops only: Codestral's completion stops (e.g. "\n\n") would cut a chat.
    assert body["stop"] == ["\n\nHuman", "Observation:"]
    assert (body["max_tokens"], body["temperature"]) == (2048, 0.2)


@pytest.mark.parametrize(
    ("behaviour", "stream", "status", "detail"),
    [
        (Behaviour(kind="status", status=500), False, 502, "Anthropic API Status Error."),
        (Behaviour(kind="status", status=529), True, 502, "Anthropic API Status Error."),
        (Behaviour(kind="slow", delay_s=2.0), False, 504, "Anthropic API Timeout Error."),
        (Behaviour(kind="reset"), False, 502, "Anthropic API Connection Error."),
    ],
    ids=["5xx", "5xx-stream", "timeout", "reset"],
)
def test_v1_chat_upstream_errors(
    chat: httpx.Client,
    anthropic_fake: FakeAnthropic,
    behaviour: Behaviour,
    stream: bool,
    status: int,
    detail: str,
) -> None:
    anthropic_fake.will(*[behaviour] * ATTEMPTS)
    body = v1_chat("x", stream=stream, provider="anthropic", model=CLAUDE)
    r = chat.post("/v1/chat/explain_code", json=body)
    assert (r.status_code, r.json()) == (status, {"detail": detail})
    # The router's own retries only (SDK retries are off); no other model was asked.
    assert len(anthropic_fake.received) == ATTEMPTS


def test_v1_chat_falls_back_to_the_local_model_when_claude_fails(
    chat: httpx.Client, anthropic_fake: FakeAnthropic
) -> None:
    """Duo Chat's default model fails on every attempt: its fallback (the embedded model)
    answers, and the route header says so (issue 15 item 1)."""
    anthropic_fake.will(*[Behaviour(kind="status", status=529)] * ATTEMPTS)
    # A short answer: the embedded model on a loaded 2-core runner writes ~20 tokens/s.
    body = v1_chat("Say hi", params={"max_tokens_to_sample": 16})
    r = chat.post("/v1/chat/explain_code", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["response"]
    route = r.headers["x-gateway-route"]
    assert route.startswith("served=smollm2_135m_local;"), route
    assert "claude_sonnet_4_5_20250929:529" in route and "fallback=1" in route
    assert len(anthropic_fake.received) == ATTEMPTS


@pytest.mark.parametrize(
    ("path", "stream", "status", "detail"),
    [
        ("/v1/prompts/generate_commit_message", False, 500, "500: Internal Server Error"),
        ("/v2/prompts/generate_commit_message", True, 503, "503: Service Unavailable"),
    ],
)
def test_prompt_provider_error_is_421(
    chat: httpx.Client,
    anthropic_fake: FakeAnthropic,
    path: str,
    stream: bool,
    status: int,
    detail: str,
) -> None:
    anthropic_fake.will(*[Behaviour(kind="status", status=status)] * ATTEMPTS)
    r = chat.post(path, json={**COMMIT, "stream": stream, "model_metadata": NAMED})
    assert (r.status_code, r.json()) == (421, {"detail": detail})
    assert anthropic_fake.last.json()["model"] == CLAUDE


# Claude's ReAct answer in small SSE chunks; "Final Answer:" is split over three of them.
REACT_ANSWER = (
    "Thought: The user",
    " wants rebase steps.\nFinal",
    " Ans",
    "wer",
    ": Run",
    " `git",
    " rebase",
    " main`",
    " and",
    " resolve",
    " any",
    " conflicts.",
)


def test_agent_streams_final_answer_deltas_while_claude_writes(
    chat: httpx.Client, anthropic_fake: FakeAnthropic
) -> None:
    anthropic_fake.will(Behaviour(pieces=REACT_ANSWER, chunk_delay_s=0.1, usage=(321, 45)))
    arrivals: list[tuple[float, dict[str, Any]]] = []
    started = time.perf_counter()
    with chat.stream("POST", "/v2/chat/agent", json=agent_body("How do I rebase?")) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/x-ndjson; charset=utf-8"
        # The head waited for Claude's first content, so it names Claude (issue 15 item 7).
        policy = f"policy={FAULT_TEST_ROUTING['version']}"
        assert r.headers["x-gateway-route"] == f"served={NAMED['identifier']}; {policy}"
        for line in r.iter_lines():
            arrivals.append((time.perf_counter() - started, json.loads(line)))
    events = [event for _, event in arrivals]
    deltas = [event["data"] for event in events if event["type"] == "final_answer_delta"]
    assert [e["type"] for e in events] == ["final_answer_delta"] * len(deltas) + ["usage"]
    assert "".join(d["text"] for d in deltas) == "Run `git rebase main` and resolve any conflicts."
    assert len(deltas) > 5 and deltas[-1]["finish_reason"] == "stop"
    assert events[-1]["data"] == {"usage": {CLAUDE: {"input_tokens": 321, "output_tokens": 45}}}
    first_delta = next(t for t, e in arrivals if e["type"] == "final_answer_delta")
    # ~10 more SSE messages 100 ms apart follow the first answer piece.
    assert arrivals[-1][0] - first_delta > 0.5, (first_delta, arrivals[-1][0])
    sent = anthropic_fake.last.json()
    assert sent["stream"] is True and sent["model"] == CLAUDE
    assert sent["stop_sequences"] == ["Observation:"]
    assert "Final Answer:" in sent["system"]
    assert "How do I rebase?" in sent["messages"][-1]["content"]


def test_agent_action_after_a_scratchpad_step(
    chat: httpx.Client, anthropic_fake: FakeAnthropic
) -> None:
    action = ("Thought: I need the", " MR too.\nAct", "ion: merge_request_rea", "der\n")
    action += ("Action In", "put: !12")
    anthropic_fake.will(Behaviour(pieces=action, usage=(80, 17)))
    step = {"thought": "Read it", "tool": "issue_reader", "tool_input": "#42", "observation": "ok"}
    body = agent_body(
        "Summarize #42", options={"agent_scratchpad": {"agent_type": "react", "steps": [step]}}
    )
    events = ndjson(chat.post("/v2/chat/agent", json=body).text)
    assert events == [
        {
            "type": "action",
            "data": {
                "tool": "merge_request_reader",
                "tool_input": "!12",
                "thought": "I need the MR too.",
            },
        },
        {"type": "usage", "data": {"usage": {CLAUDE: {"input_tokens": 80, "output_tokens": 17}}}},
    ]
    prefill = anthropic_fake.last.json()["messages"][-1]
    assert prefill["role"] == "assistant"
    assert "Action: issue_reader" in prefill["content"]
    assert prefill["content"].endswith("Observation: ok")


def test_agent_upstream_error_is_an_error_event(
    chat: httpx.Client, anthropic_fake: FakeAnthropic
) -> None:
    anthropic_fake.will(*[Behaviour(kind="status", status=529)] * ATTEMPTS)
    r = chat.post("/v2/chat/agent", json=agent_body("hi", model_metadata=NAMED))
    assert r.status_code == 200
    (event,) = ndjson(r.text)
    assert event["type"] == "error" and event["data"]["retryable"] is True
    tried = ",".join([f"{NAMED['identifier']}:529"] * ATTEMPTS)
    policy = f"policy={FAULT_TEST_ROUTING['version']}"
    assert r.headers["x-gateway-route"] == f"served=-; tried={tried}; {policy}"


@pytest.mark.parametrize("stream", [False, True])
def test_v2_prompt_on_a_self_hosted_model(
    chat: httpx.Client, openai_fake: FakeOpenAI, stream: bool
) -> None:
    openai_fake.will(Behaviour(pieces=("Fix ", "the ", "typo"), usage=(57, 3)))
    body = {**COMMIT, "stream": stream, "model_metadata": self_hosted(openai_fake)}
    r = chat.post("/v2/prompts/generate_commit_message", json=body)
    assert r.status_code == 200, r.text
    usage = {"usage": {"mistral-7b-instruct": {"input_tokens": 57, "output_tokens": 3}}}
    if stream:
        assert ndjson(r.text) == [
            {"content": "Fix "},
            {"content": "the "},
            {"content": "typo"},
            {"content": "", **usage},
        ]
    else:
        assert r.json() == {"content": "Fix the typo", **usage}
    sent = openai_fake.last
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    request = sent.json()
    assert request["model"] == "mistral-7b-instruct"
    assert request.get("stream", False) is stream
    # No `mistral` family for this prompt: the base definition, not Claude's wording.
    system = request["messages"][0]
    assert system["role"] == "system" and "XML-style tags" not in system["content"]
    assert "+fix the typo" in request["messages"][-1]["content"]
    assert (request["max_tokens"], request["temperature"]) == (2048, 0.1)
