"""Resilient routing over HTTP (TestClient) with the real Anthropic and OpenAI SDK backends
against misbehaving fakes: every scenario asserts what the client got, a clean answer after a
retry, fallback or resume, or the contract's error; never a truncated success or duplicated
text, never past the deadline."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi.testclient import TestClient

from core.settings import Config
from deployments.auth import AuthService
from deployments.backends.anthropic import AnthropicBackend
from deployments.backends.mock import MockBackend
from deployments.backends.openai_compat import OpenAICompatBackend
from deployments.handles import BackendClient
from deployments.local_assembler import LocalAssembler
from deployments.prompt_assembler import PromptAssembler
from observability.telemetry import Telemetry
from routing.admission import Admission
from routing.builder import final_catalogue
from routing.catalogue import load_catalogue, target_of
from routing.resilience.engine import Resilience
from routing.resilience.policy import RoutingPolicy
from serve_app.api.app import create_app
from serve_app.gateway import Gateway
from serve_app.proxy.forwarder import ProviderProxy
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Behaviour
from tests.payloads import parse_sse, v2_body, v3_body

CLAUDE = "claude_sonnet_4_5_20250929"
# Generations: a fast first-byte deadline, so a hang costs the test well under a second.
LOCAL = target_of(load_catalogue().models["smollm2_135m_local"])
FAST = {"features": {"code_generations": {"deadlines": {"first_byte_s": 0.5, "stall_s": 0.5}}}}


def client(
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
    policy: dict[str, Any] | None = None,
    *,
    local: BackendClient | None = None,
    admission: Admission | None = None,
) -> TestClient:
    config = Config(
        auth={"bypass_external": True},
        custom_models={"enabled": True},
        anthropic_api_key="sk-ant-server",
        anthropic_base_url=fake_anthropic.url,
    )
    gateway = Gateway(
        settings=config,
        catalogue=final_catalogue(config),
        auth=AuthService(config.auth_service()),
        assembler=LocalAssembler(PromptAssembler(config.prompt_assembler())),
        backends={
            "mock": MockBackend(),
            # The embedded model's backend, answered by the echo class: the fallback a real
            # model has (the echo mock never is one), without loading llama.cpp in this tier.
            "local": local or MockBackend(),
            "openai_compat": OpenAICompatBackend(config.openai_compat_backend()),
            "anthropic": AnthropicBackend(config.anthropic_backend()),
        },
        resilience=Resilience(RoutingPolicy.model_validate(policy or {})),
        admission=admission,
    )
    telemetry = Telemetry.in_memory(config)
    app = create_app(gateway, config.api(), ProviderProxy(config), telemetry=telemetry)
    return TestClient(app, raise_server_exceptions=False)


def generation(stream: bool) -> dict[str, Any]:
    return v3_body("code_editor_generation", stream=stream, prompt="add two numbers")


def test_default_model_529_falls_back_to_the_next_configured_model(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    overloaded = Behaviour(kind="status", status=529)
    fake_anthropic.will(overloaded, overloaded)
    r = client(fake_openai, fake_anthropic).post("/v4/code/suggestions", json=generation(False))
    assert r.status_code == 200, r.text
    assert r.json()["model"]["engine"] == LOCAL.engine  # names what really served
    route = r.headers["x-gateway-route"]
    assert route == f"served=smollm2_135m_local; tried={CLAUDE}:529,{CLAUDE}:529; fallback=1"
    assert len(fake_anthropic.received) == 2


def test_explicit_model_is_never_swapped_for_another(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.will(*[Behaviour(kind="status", status=503)] * 2)
    body = v2_body(model_provider="anthropic", model_name="claude-sonnet-4-5-20250929")
    r = client(fake_openai, fake_anthropic).post("/v2/code/completions", json=body)
    assert r.status_code == 503 and r.json() == {"detail": "Inference failed"}
    assert "fallback" not in r.headers["x-gateway-route"]


def test_retry_answers_after_a_reset_and_a_429_within_the_cap(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.will(Behaviour(kind="reset"), Behaviour(text="fine"))
    body = v2_body(model_provider="anthropic", model_name="claude-sonnet-4-5-20250929")
    r = client(fake_openai, fake_anthropic).post("/v2/code/completions", json=body)
    assert r.status_code == 200 and r.json()["choices"][0]["text"] == "fine"
    fake_anthropic.will(
        Behaviour(kind="status", status=429, headers={"retry-after": "1"}), Behaviour(text="ok")
    )
    started = time.monotonic()  # a client per request: TestClient runs each in a new loop
    r = client(fake_openai, fake_anthropic).post("/v2/code/completions", json=body)
    assert r.status_code == 200 and time.monotonic() - started >= 1.0  # waited as told


def test_hang_after_headers_falls_back_within_the_first_byte_deadline(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.will(*[Behaviour(kind="hang_headers")] * 2)
    started = time.monotonic()
    r = client(fake_openai, fake_anthropic, FAST).post(
        "/v4/code/suggestions", json=generation(True)
    )
    events = parse_sse(r.text)
    assert events[0][0] == "stream_start" and events[-1][0] == "stream_end"
    start = json.loads(events[0][1])
    assert start["metadata"]["model"]["engine"] == LOCAL.engine
    assert time.monotonic() - started < 2 * 0.5 + 1.5  # two first-byte deadlines, no more


def resumed_stream(fake_anthropic: FakeAnthropic, fake_openai: FakeOpenAI, broken: str) -> str:
    """A generation stream broken by `broken` after its first pieces, then continued."""
    head = ("def add(a, ", "b):")
    tail = () if broken == "no_done" else ("\n    NEVER SENT",)
    fake_anthropic.will(
        # Cut after the head's events (message_start, content_block_start, ping, 2 deltas);
        # `no_done` sends every piece, then no message_stop.
        Behaviour(kind=broken, pieces=(*head, *tail), cut_after=5, hang_s=5.0),
        Behaviour(pieces=("\n    return ", "a + b\n")),
    )
    r = client(fake_openai, fake_anthropic, FAST).post(
        "/v4/code/suggestions", json=generation(True)
    )
    events = parse_sse(r.text)
    assert events[-1][0] == "stream_end", r.text
    assert len(fake_anthropic.received) == 2
    prefill = fake_anthropic.received[1].json()["messages"][-1]
    assert prefill["role"] == "assistant" and prefill["content"].endswith("def add(a, b):")
    return "".join(
        json.loads(data)["choices"][0]["delta"]["content"]
        for e, data in events
        if e == "content_chunk"
    )


def test_cut_stall_malformed_or_unterminated_streams_resume_without_duplicates(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    for broken in ("cut", "stall", "malformed_sse", "no_done"):
        fake_anthropic.reset()
        text = resumed_stream(fake_anthropic, fake_openai, broken)
        assert text == "def add(a, b):\n    return a + b\n", broken


def test_openai_stream_without_done_resumes_with_the_prompt_extended(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    fake_openai.will(
        Behaviour(kind="cut", pieces=("fmt.", "Println(", "1)"), cut_after=2),
        Behaviour(pieces=('"hi")',)),
    )
    body = {
        **v2_body(stream=True),
        "model_provider": "litellm",
        "model_name": "codestral",
        "model_endpoint": fake_openai.url + "/v1",
        "model_identifier": "custom_openai/Codestral-22B-v0.1",
    }
    r = client(fake_openai, fake_anthropic).post("/v2/code/completions", json=body)
    assert r.status_code == 200 and r.text == 'fmt.Println("hi")'
    second = fake_openai.received[1].json()
    assert second.get("prompt", "").endswith("fmt.Println(")
