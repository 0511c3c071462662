"""Model choice end to end over HTTP (TestClient) with the real backends against the fakes:
what the client gets, and what the upstream was sent."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.settings import Config
from deployments.auth import AuthService
from deployments.backends.anthropic import AnthropicBackend
from deployments.backends.mock import MockBackend
from deployments.backends.openai_compat import OpenAICompatBackend
from deployments.local_assembler import LocalAssembler
from deployments.prompt_assembler import PromptAssembler
from observability.telemetry import Telemetry
from routing.builder import final_catalogue
from routing.resilience.policy import RetryPolicy
from serve_app.api.app import create_app
from serve_app.gateway import Gateway
from serve_app.proxy.forwarder import ProviderProxy
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Behaviour
from tests.payloads import parse_sse, v2_body, v3_body

KEY = "sk-customer-1234567890"

# Attempts the routing policy makes on an explicitly chosen model before the client hears
# of a failure (routing/resilience/policy.py RetryPolicy.attempts_per_target).
ATTEMPTS = RetryPolicy().attempts_per_target


def client(fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, **settings: Any) -> TestClient:
    defaults: dict[str, Any] = {
        "auth": {"bypass_external": True},
        "custom_models": {"enabled": True},
        "anthropic_api_key": "sk-ant-server",
        "anthropic_base_url": fake_anthropic.url,
    }
    config = Config(**{**defaults, **settings})
    gateway = Gateway(
        settings=config,
        catalogue=final_catalogue(config),
        auth=AuthService(config.auth_service()),
        assembler=LocalAssembler(PromptAssembler(config.prompt_assembler())),
        backends={
            "mock": MockBackend(),
            "openai_compat": OpenAICompatBackend(config.openai_compat_backend()),
            "anthropic": AnthropicBackend(config.anthropic_backend()),
        },
    )
    return TestClient(
        create_app(
            gateway, config.api(), ProviderProxy(config), telemetry=Telemetry.in_memory(config)
        ),
        raise_server_exceptions=False,
    )


def litellm_body(fake: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    fields = {
        "model_provider": "litellm",
        "model_name": "codestral",
        "model_endpoint": fake.url + "/v1",
        "model_api_key": KEY,
        "model_identifier": "custom_openai/Codestral-22B-v0.1",
    }
    return v2_body(**{**fields, **extra})


def test_v2_litellm_completion_reaches_the_callers_endpoint(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    fake_openai.will(Behaviour(text="return f'hi {name}'"))
    r = client(fake_openai, fake_anthropic).post(
        "/v2/code/completions", json=litellm_body(fake_openai)
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["choices"][0]["text"] == "return f'hi {name}'"
    assert body["model"]["engine"] == "litellm"
    assert body["model"]["name"] == "Codestral-22B-v0.1"
    sent = fake_openai.last
    assert sent.path == "/v1/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json()["model"] == "Codestral-22B-v0.1"
    assert sent.json()["prompt"].endswith("def greet(name):\n    ")
    assert "[PREFIX]" in sent.json()["stop"]  # the codestral family's stop tokens


def test_model_metadata_chooses_the_self_hosted_model(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    meta = {
        "provider": "openai",
        "name": "llama3",
        "endpoint": fake_openai.url + "/v1/",
        "api_key": "",
        "identifier": "custom_openai/RedhatAI/Llama-3.3-70B-Instruct",
    }
    r = client(fake_openai, fake_anthropic).post(
        "/v4/code/suggestions", json={**v3_body(), "model_metadata": meta}
    )
    assert r.status_code == 200, r.text
    assert r.json()["model"]["name"] == "RedhatAI/Llama-3.3-70B-Instruct"
    assert fake_openai.last.json()["model"] == "RedhatAI/Llama-3.3-70B-Instruct"
    assert fake_openai.last.headers["authorization"] == "Bearer dummy_key"


def test_v4_stream_cut_midway_ends_with_an_error_event(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    # Every attempt the routing policy makes (issue 15: a retry resumes a cut stream) is cut.
    fake_openai.will(*[Behaviour(kind="cut")] * ATTEMPTS)
    meta = {"provider": "openai", "name": "codestral", "endpoint": fake_openai.url + "/v1"}
    r = client(fake_openai, fake_anthropic).post(
        "/v4/code/suggestions", json={**v3_body(stream=True), "model_metadata": meta}
    )
    events = parse_sse(r.text)
    assert events[0][0] == "stream_start"
    assert events[1][0] == "content_chunk"
    assert events[-1][0] == "error"
    assert "stream_end" not in [e for e, _ in events]


@pytest.mark.parametrize(
    ("behaviour", "status", "retry_after"),
    [
        (Behaviour(kind="status", status=429, headers={"retry-after": "30"}), 429, "30"),
        (Behaviour(kind="status", status=429), 429, None),
        (Behaviour(kind="status", status=500), 503, None),
        (Behaviour(kind="malformed"), 503, None),
        (Behaviour(kind="reset"), 503, None),
        (Behaviour(kind="slow", delay_s=1.0), 503, None),
    ],
)
def test_upstream_errors_map_to_the_contract(
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
    behaviour: Behaviour,
    status: int,
    retry_after: str | None,
) -> None:
    fake_openai.will(*[behaviour] * ATTEMPTS)  # the retry fails the same way
    c = client(fake_openai, fake_anthropic, model_timeouts={"first_byte_s": 0.3, "total_s": 0.5})
    r = c.post("/v2/code/completions", json=litellm_body(fake_openai))
    assert r.status_code == status
    expected = "Too many requests. Please try again later." if status == 429 else "Inference failed"
    assert r.json() == {"detail": expected}
    assert r.headers.get("retry-after") == retry_after
    assert KEY not in r.text


@pytest.mark.parametrize(
    ("upstream", "sent"),
    [
        ("7, <script>x</script>", None),
        ("7", "7"),
        ("Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 GMT"),
    ],
)
def test_upstream_retry_after_reaches_the_client_only_when_valid(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, upstream: str, sent: str | None
) -> None:
    fake_openai.will(
        *[Behaviour(kind="status", status=429, headers={"retry-after": upstream})] * ATTEMPTS
    )
    r = client(fake_openai, fake_anthropic).post(
        "/v2/code/completions", json=litellm_body(fake_openai)
    )
    assert r.status_code == 429
    assert r.json() == {"detail": "Too many requests. Please try again later."}
    assert r.headers.get("retry-after") == sent
    assert "<script>" not in r.text


@pytest.mark.parametrize("provider", ["litellm", "anthropic"])
def test_non_streamed_answer_after_the_first_byte_deadline_is_503(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, provider: str
) -> None:
    """README, Providers: a missed first-byte deadline is the contract's 503, even for an
    answer that would come well within the total deadline; one in time is a 200."""
    timeouts = {"first_byte_s": 0.3, "total_s": 5.0}
    fake = fake_openai if provider == "litellm" else fake_anthropic
    if provider == "litellm":
        body = litellm_body(fake_openai)
    else:
        body = v2_body(model_provider="anthropic", model_name="claude-sonnet-4-5-20250929")

    def post() -> Any:  # a client per request: TestClient runs each in a new loop
        c = client(fake_openai, fake_anthropic, model_timeouts=timeouts)
        return c.post("/v2/code/completions", json=body)

    fake.will(*[Behaviour(kind="slow", delay_s=1.0)] * ATTEMPTS)
    late = post()
    assert late.status_code == 503
    assert late.json() == {"detail": "Inference failed"}
    fake.will(Behaviour(text="return f'hi {name}'", delay_s=0.05, body_delay_s=0.6))
    in_time = post()
    assert in_time.status_code == 200, in_time.text
    assert in_time.json()["choices"][0]["text"] == "return f'hi {name}'"


def test_anthropic_generation_by_provider_and_name(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    body = v2_body(model_provider="anthropic", model_name="claude-haiku-4-5-20251001")
    r = client(fake_openai, fake_anthropic).post("/v2/code/generations", json=body)
    assert r.status_code == 200, r.text
    assert (
        r.json()["model"] | {"engine": "anthropic", "name": "claude-haiku-4-5-20251001"}
        == r.json()["model"]
    )
    assert fake_anthropic.last.json()["model"] == "claude-haiku-4-5-20251001"


def test_legacy_anthropic_name_maps_to_the_gitlab_model(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    body = v2_body(model_provider="anthropic", model_name="claude-sonnet-4-20250514")
    r = client(fake_openai, fake_anthropic).post("/v2/code/generations", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["model"]["name"] == "claude-sonnet-4-5-20250929"


@pytest.mark.parametrize(
    ("path", "provider", "name", "use_case"),
    [
        ("/v2/code/completions", "anthropic", "claude-2.1", "code completions"),
        ("/v2/code/completions", "vertex-ai", "gemini-2.5-flash", "code completions"),
        ("/v2/code/generations", "litellm", "qwen", "code generations"),
        ("/v2/code/completions", "litellm", "not-a-family", "code completions"),
    ],
)
def test_unsupported_model_name_is_the_contracts_422(
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
    path: str,
    provider: str,
    name: str,
    use_case: str,
) -> None:
    r = client(fake_openai, fake_anthropic).post(
        path, json=v2_body(model_provider=provider, model_name=name)
    )
    assert r.status_code == 422
    assert r.json() == {
        "detail": f"model {name} is not supported by use case {use_case} and provider {provider}"
    }


def test_custom_endpoint_refused_unless_enabled(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    c = client(fake_openai, fake_anthropic, custom_models={"enabled": False})
    r = c.post("/v2/code/completions", json=litellm_body(fake_openai))
    assert r.status_code == 422
    assert r.json() == {"detail": "specifying custom models endpoint is disabled"}
    meta = {"provider": "openai", "name": "llama3", "endpoint": fake_openai.url}
    r = c.post("/v3/code/completions", json={**v3_body(), "model_metadata": meta})
    assert r.status_code == 422
    assert not fake_openai.received


def test_foreign_identifier_is_refused_clearly(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    body = litellm_body(fake_openai, model_identifier="bedrock/anthropic.claude-3-5-sonnet")
    r = client(fake_openai, fake_anthropic).post("/v2/code/completions", json=body)
    assert r.status_code == 422
    assert "bedrock" in r.json()["detail"]


def test_unconfigured_provider_model_is_503_not_a_silent_swap(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    body = v2_body(model_provider="vertex-ai", model_name="codestral-2501")
    r = client(fake_openai, fake_anthropic).post("/v2/code/completions", json=body)
    assert r.status_code == 503
    assert r.json() == {"detail": "Inference failed"}


def test_v2_raw_stream_cut_midway_is_logged(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    """The body breaks off (a real server aborts the connection; TestClient just ends it)."""
    fake_openai.will(*[Behaviour(kind="cut")] * ATTEMPTS)
    c = client(fake_openai, fake_anthropic)
    r = c.post("/v2/code/completions", json=litellm_body(fake_openai, stream=True))
    assert r.text and r.text != "hello there from the fake model"
    assert "stream failed mid-way" in caplog.text


@pytest.mark.parametrize(
    "identifier", ["codestral_2501_fireworks", "codestral_2508_fireworks", "codestral_2501_vertex"]
)
def test_every_gitlab_completion_model_of_the_contract_is_known(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, identifier: str
) -> None:
    """API.md §6.4 allows these ids for completions: not configured here is a 503, never a
    422 or another model; in mock mode they answer."""
    c = client(fake_openai, fake_anthropic)
    body = v2_body(model_provider="gitlab", model_name=identifier)
    assert c.post("/v2/code/completions", json=body).json() == {"detail": "Inference failed"}
    meta = {"provider": "gitlab", "identifier": identifier}
    r = c.post("/v4/code/suggestions", json={**v3_body(), "model_metadata": meta})
    assert r.status_code == 503
    mocked = client(fake_openai, fake_anthropic, mock_model_responses=True)
    assert mocked.post("/v2/code/completions", json=body).status_code == 200


def test_a_v2_model_name_without_provider_is_a_gitlab_id_or_ignored(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    def post(name: str) -> Any:  # a client per request: TestClient runs each in a new loop
        c = client(fake_openai, fake_anthropic)
        return c.post("/v2/code/completions", json=v2_body(model_name=name))

    named = post("claude_sonnet_4_5_20250929")
    assert named.status_code == 200, named.text
    assert named.json()["model"]["engine"] == "anthropic"
    # Not a GitLab id: the contract checks model_name only with a provider. The completion
    # default (Codestral on Vertex) is not configured in this client: its fallback answers.
    default = post("")
    ignored = post("claude-3-5-sonnet-20240620")
    assert ignored.status_code == default.status_code == 200, ignored.text
    assert ignored.json()["model"]["engine"] == default.json()["model"]["engine"] != "anthropic"


@pytest.mark.parametrize(
    ("kind", "provider", "name"),
    [
        ("code_editor_completion", "anthropic", "claude-3-5-sonnet-20240620"),
        ("code_editor_completion", "vertex-ai", "code-gecko@002"),
        ("code_editor_generation", "anthropic", "claude-3-5-sonnet-20241022"),
        ("code_editor_generation", None, "whatever"),
    ],
)
def test_v4_editor_payload_names_never_refuse_the_request(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, kind: str, provider: str | None,
    name: str,
) -> None:  # fmt: skip
    """API.md §1.4: the model comes from model_metadata, else the server default (a
    generation's provider picks its GitLab model): old editor settings are no 422."""
    body = v3_body(kind, model_provider=provider, model_name=name)
    r = client(fake_openai, fake_anthropic).post("/v4/code/suggestions", json=body)
    assert r.status_code == 200, r.text
    if kind == "code_editor_generation":
        assert r.json()["model"]["engine"] == "anthropic"
        assert fake_anthropic.last.json()["model"] == "claude-sonnet-4-5-20250929"
    else:  # the completion default, as if the payload named no model
        plain = client(fake_openai, fake_anthropic).post("/v4/code/suggestions", json=v3_body())
        assert r.json()["model"] == plain.json()["model"]


def test_claude_completions_render_the_registry_chat_prompt(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    """API.md §1.3: an Anthropic completion goes through the prompt registry: a system
    prompt, the code on both sides of the cursor, the <new_code> prefill and its stop."""
    fake_anthropic.will(Behaviour(text="return f'hi {name}'\nreturn f'hi {name}'"))
    body = v2_body(model_provider="anthropic", model_name="claude-sonnet-4-5-20250929")
    r = client(fake_openai, fake_anthropic).post("/v2/code/completions", json=body)
    assert r.status_code == 200, r.text
    sent = fake_anthropic.last.json()
    assert sent["system"] and "</new_code>" in sent["stop_sequences"]
    user, prefill = sent["messages"][0]["content"], sent["messages"][-1]
    assert "def greet(name):" in str(user) and "print(greet('x'))" in str(user)
    assert prefill == {"role": "assistant", "content": "<new_code>"}
    # Anthropic completions get no post-processor (§7.4): the text comes back as sent.
    assert r.json()["choices"][0]["text"] == "return f'hi {name}'\nreturn f'hi {name}'"


@pytest.mark.parametrize(("provider", "stripped"), [(None, True), ("anthropic", False)])
def test_generation_post_processing_follows_the_requested_provider(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, provider: str | None, stripped: bool
) -> None:
    """API.md §7.5: only `model_provider=anthropic` skips fence stripping and the leading
    newline; a generation on the default model (Claude here) gets them."""
    fenced = "```python\ndef hello():\n    pass\n```"
    fake_anthropic.will(Behaviour(text=fenced))
    body = v2_body(model_provider=provider, current_file={
        "file_name": "a.py", "content_above_cursor": "# hello fn", "content_below_cursor": ""
    })  # fmt: skip
    r = client(fake_openai, fake_anthropic).post("/v2/code/generations", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["model"]["engine"] == "anthropic"
    text = r.json()["choices"][0]["text"]
    assert text == ("\ndef hello():\n    pass\n" if stripped else fenced)
