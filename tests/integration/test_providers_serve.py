"""Provider backends end to end through Ray Serve: an app of our own at `/providers` whose
AnthropicBackend and OpenAICompatBackend deployments talk to local fakes over loopback."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from routing.resilience.policy import RetryPolicy
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Behaviour
from tests.integration.conftest import (
    BYPASS,
    FAULT_TEST_ROUTING,
    deploy,
    litellm,
    provider_gateway,
    wait_ready,
    with_user_config,
)
from tests.integration.conftest import (
    SELF_HOSTED_KEY as KEY,
)
from tests.payloads import parse_sse, v2_body, v3_body

# A model the client named is retried on itself only (issue 15): each of its attempts must
# fail for the client to see the contract's error.
ATTEMPTS = RetryPolicy().attempts_per_target


@pytest.fixture(scope="module")
def providers(
    serve_instance: str, fakes: tuple[FakeOpenAI, FakeAnthropic]
) -> Iterator[httpx.Client]:
    timeouts = {"first_byte_s": 0.5, "total_s": 2.0}
    yield from provider_gateway(serve_instance, fakes[1], "providers", timeouts, FAULT_TEST_ROUTING)


def test_self_hosted_completion(providers: httpx.Client, openai_fake: FakeOpenAI) -> None:
    openai_fake.will(Behaviour(text="return 'hi ' + name"))
    r = providers.post("/v2/code/completions", json=litellm(openai_fake))
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["text"] == "return 'hi ' + name"
    assert r.json()["model"]["engine"] == "litellm"
    sent = openai_fake.last
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json()["model"] == "codestral-22b"
    assert sent.json()["prompt"].endswith("def greet(name):\n    ")


def test_self_hosted_stream_raw_text(providers: httpx.Client, openai_fake: FakeOpenAI) -> None:
    openai_fake.will(Behaviour(text="one two three four"))
    r = providers.post("/v2/code/completions", json=litellm(openai_fake, stream=True))
    assert r.status_code == 200
    assert r.text == "one two three four"
    assert openai_fake.last.json()["stream"] is True


def test_rate_limit_passes_retry_after(providers: httpx.Client, openai_fake: FakeOpenAI) -> None:
    openai_fake.will(Behaviour(kind="status", status=429, headers={"retry-after": "12"}))
    r = providers.post("/v2/code/completions", json=litellm(openai_fake))
    assert r.status_code == 429
    assert r.headers["retry-after"] == "12"
    assert r.json() == {"detail": "Too many requests. Please try again later."}


@pytest.mark.parametrize("kind", ["malformed", "reset", "slow"])
def test_broken_upstream_is_503(
    providers: httpx.Client, openai_fake: FakeOpenAI, kind: str
) -> None:
    openai_fake.will(*[Behaviour(kind=kind, delay_s=2.5 if kind == "slow" else 0.0)] * ATTEMPTS)
    r = providers.post("/v2/code/completions", json=litellm(openai_fake))
    assert r.status_code == 503
    assert r.json() == {"detail": "Inference failed"}


def test_stream_with_slow_first_byte_is_503(
    providers: httpx.Client, openai_fake: FakeOpenAI
) -> None:
    openai_fake.will(*[Behaviour(kind="slow", delay_s=1.2)] * ATTEMPTS)
    r = providers.post("/v2/code/completions", json=litellm(openai_fake, stream=True))
    assert r.status_code == 503
    # Attempts are given up at the first-byte deadline: the client never waits out the fake's
    # 1.2 s on every attempt.
    assert r.elapsed.total_seconds() < 1.2 * ATTEMPTS


def test_v4_stream_cut_midway_sends_error_event(
    providers: httpx.Client, openai_fake: FakeOpenAI
) -> None:
    openai_fake.will(*[Behaviour(kind="cut")] * ATTEMPTS)  # a retry would resume the stream
    meta = {"provider": "openai", "name": "codestral", "endpoint": f"{openai_fake.url}/v1"}
    r = providers.post(
        "/v4/code/suggestions", json={**v3_body(stream=True), "model_metadata": meta}
    )
    names = [name for name, _ in parse_sse(r.text)]
    assert names[0] == "stream_start" and "content_chunk" in names
    assert names[-1] == "error"


def test_anthropic_generation(providers: httpx.Client, anthropic_fake: FakeAnthropic) -> None:
    anthropic_fake.will(Behaviour(text="def greet(name):\n    return name"))
    r = providers.post(
        "/v2/code/generations",
        json=v2_body(model_provider="anthropic", model_name="claude-sonnet-4-5-20250929"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["model"]["engine"] == "anthropic"
    assert r.json()["model"]["name"] == "claude-sonnet-4-5-20250929"
    body = anthropic_fake.last.json()
    assert body["model"] == "claude-sonnet-4-5-20250929"
    assert body["system"].startswith("You are a coding assistant")


def test_anthropic_stream_v4(providers: httpx.Client, anthropic_fake: FakeAnthropic) -> None:
    r = providers.post(
        "/v4/code/suggestions",
        json=v3_body(kind="code_editor_generation", stream=True, model_provider="anthropic"),
    )
    events = parse_sse(r.text)
    assert [e for e, _ in events][-1] == "stream_end"
    assert anthropic_fake.last.json()["stream"] is True


def test_anthropic_proxy_streams_through_serve(
    providers: httpx.Client, anthropic_fake: FakeAnthropic
) -> None:
    body = {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 16,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    headers = {"x-gitlab-unit-primitive": "duo_chat", "anthropic-version": "2023-06-01"}
    r = providers.post("/v1/proxy/anthropic/v1/messages", json=body, headers=headers)
    assert r.status_code == 200
    assert r.text.startswith("event: message_start")
    assert r.text.rstrip().endswith('data: {"type": "message_stop"}')
    assert anthropic_fake.last.headers["x-api-key"] == "sk-ant-server"


@pytest.fixture(scope="module")
def colocated(
    serve_instance: str, fakes: tuple[FakeOpenAI, FakeAnthropic]
) -> Iterator[httpx.Client]:
    """The same gateway with the OpenAI-compatible backend inside the ingress replica."""
    from serve_app.app import build_app

    args = {
        "settings": {
            "auth": {"bypass_external_with_header": True},
            "custom_models": {"enabled": True},
        },
        "providers_in_ingress": ["openai_compat"],
    }
    app = with_user_config(build_app(args), {"routing": FAULT_TEST_ROUTING})
    deploy(app, "aigw_providers_colocated", "/colocated")
    url = f"{serve_instance}/colocated"
    wait_ready(url)
    with httpx.Client(base_url=url, headers=BYPASS, timeout=30) as client:
        yield client


def test_colocated_backend_serves_and_reports_cut_streams(
    colocated: httpx.Client, openai_fake: FakeOpenAI
) -> None:
    openai_fake.will(Behaviour(text="return 1"))
    r = colocated.post("/v2/code/completions", json=litellm(openai_fake))
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["text"] == "return 1"
    openai_fake.will(*[Behaviour(kind="cut")] * ATTEMPTS)  # a retry would resume the stream
    meta = {"provider": "openai", "name": "codestral", "endpoint": f"{openai_fake.url}/v1"}
    r = colocated.post(
        "/v4/code/suggestions", json={**v3_body(stream=True), "model_metadata": meta}
    )
    assert [name for name, _ in parse_sse(r.text)][-1] == "error"
