"""Provider proxies over HTTP against the fakes: allowlists, headers both ways, unit
primitive checks, streaming passed through byte for byte, 502 on transport failure."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bench.isolation import free_port
from core.settings import Config
from core.types import Identity
from deployments.backends.mock import MockBackend
from deployments.local_assembler import LocalAssembler
from deployments.prompt_assembler import PromptAssembler
from observability.telemetry import Telemetry
from routing.builder import final_catalogue
from routing.catalogue import load_catalogue
from serve_app.api.app import create_app
from serve_app.gateway import Gateway
from serve_app.proxy.forwarder import ProviderProxy
from tests.fakes.anthropic import FakeAnthropic, message_events
from tests.fakes.google import TOKEN, FakeVertex, service_account_json
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Behaviour

SERVER_KEY = "sk-ant-server-key"
MESSAGES = {
    "model": "claude-sonnet-4-5-20250929",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "hi"}],
}
UP = {"x-gitlab-unit-primitive": "duo_chat"}


class StubAuth:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    async def authenticate(self, headers: Mapping[str, str]) -> Identity:
        return self.identity


@functools.cache
def key_file(token_uri: str) -> str:
    return service_account_json(token_uri)


def client(identity: Identity | None = None, **settings: Any) -> TestClient:
    config = Config(**settings)
    gateway = Gateway(
        settings=config,
        catalogue=final_catalogue(config),
        auth=StubAuth(identity or Identity(bypass=True)),
        assembler=LocalAssembler(PromptAssembler(config.prompt_assembler())),
        backends={"mock": MockBackend()},
    )
    return TestClient(
        create_app(
            gateway, config.api(), ProviderProxy(config), telemetry=Telemetry.in_memory(config)
        ),
        raise_server_exceptions=False,
    )


def anthropic_client(fake: FakeAnthropic, **kw: Any) -> TestClient:
    return client(anthropic_api_key=SERVER_KEY, anthropic_base_url=fake.url, **kw)


def test_anthropic_messages_forwarded_with_server_key_and_filtered_headers(
    fake_anthropic: FakeAnthropic,
) -> None:
    r = anthropic_client(fake_anthropic).post(
        "/v1/proxy/anthropic/v1/messages",
        json=MESSAGES,
        headers={
            **UP,
            "anthropic-version": "2023-06-01",
            "x-api-key": "client-key",
            "cookie": "s=1",
            "x-gitlab-instance-id": "i",
        },
    )
    assert r.status_code == 200
    assert r.json()["content"][0]["text"] == "hello there from the fake model"
    sent = fake_anthropic.last
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == SERVER_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "cookie" not in sent.headers and "x-gitlab-instance-id" not in sent.headers
    assert (
        "request-id" not in r.headers and "anthropic-ratelimit-requests-remaining" not in r.headers
    )
    assert r.headers["content-type"] == "application/json"


def test_streaming_passes_through_untouched(fake_anthropic: FakeAnthropic) -> None:
    with anthropic_client(fake_anthropic).stream(
        "POST", "/v1/proxy/anthropic/v1/messages", json={**MESSAGES, "stream": True}, headers=UP
    ) as r:
        body = r.read().decode()
    assert r.headers["content-type"].startswith("text/event-stream")
    assert body == "".join(
        message_events("claude-sonnet-4-5-20250929", "hello there from the fake model", 1)
    )


def test_upstream_error_status_is_passed_through(fake_anthropic: FakeAnthropic) -> None:
    """The status and body, yes; the upstream's other headers (a Retry-After included) no."""
    hostile = {"retry-after": "7, <script>x</script>"}
    fake_anthropic.will(Behaviour(kind="status", status=429, headers=hostile))
    r = anthropic_client(fake_anthropic).post(
        "/v1/proxy/anthropic/v1/messages", json=MESSAGES, headers=UP
    )
    assert r.status_code == 429
    assert r.json()["error"]["type"] == "rate_limit_error"
    assert "retry-after" not in r.headers


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "detail"),
    [
        ("/v1/messages", MESSAGES, {}, 400, "Missing x-gitlab-unit-primitive header"),
        (
            "/v1/messages",
            MESSAGES,
            {"x-gitlab-unit-primitive": "nope"},
            400,
            "Unknown unit primitive header nope",
        ),
        ("/v1/complete", MESSAGES, UP, 404, "Not found"),
        ("/v1/messages", {**MESSAGES, "model": "claude-1"}, UP, 400, "Unsupported model"),
        ("/v1/messages", {"messages": []}, UP, 400, "Failed to extract model name"),
        ("/v1/messages", None, UP, 400, "Invalid JSON"),
    ],
)
def test_anthropic_refusals(
    fake_anthropic: FakeAnthropic,
    path: str,
    body: Any,
    headers: dict[str, str],
    status: int,
    detail: str,
) -> None:
    content = b"{nope" if body is None else json.dumps(body).encode()
    r = anthropic_client(fake_anthropic).post(
        f"/v1/proxy/anthropic{path}", content=content, headers=headers
    )
    assert (r.status_code, r.json()) == (status, {"detail": detail})
    assert not fake_anthropic.received


def test_unit_primitive_outside_the_token_scopes_is_403(fake_anthropic: FakeAnthropic) -> None:
    identity = Identity(issuer="gitlab.com", scopes=("complete_code",))
    r = anthropic_client(fake_anthropic, identity=identity).post(
        "/v1/proxy/anthropic/v1/messages", json=MESSAGES, headers=UP
    )
    assert (r.status_code, r.json()) == (403, {"detail": "Unauthorized to access duo_chat"})


def test_namespace_allowlist_is_402(fake_anthropic: FakeAnthropic) -> None:
    c = anthropic_client(fake_anthropic, proxy_endpoints={"saas_enabled": "42"})
    saas = {**UP, "x-gitlab-realm": "saas"}
    assert (
        c.post(
            "/v1/proxy/anthropic/v1/messages",
            json=MESSAGES,
            headers={**saas, "x-gitlab-root-namespace-id": "7"},
        ).status_code
        == 402
    )
    assert (
        c.post(
            "/v1/proxy/anthropic/v1/messages",
            json=MESSAGES,
            headers={**saas, "x-gitlab-root-namespace-id": "42"},
        ).status_code
        == 200
    )


def test_missing_key_and_transport_failure() -> None:
    r = client().post("/v1/proxy/anthropic/v1/messages", json=MESSAGES, headers=UP)
    assert (r.status_code, r.json()) == (400, {"detail": "API key not found"})
    dead = f"http://127.0.0.1:{free_port()}"
    r = client(anthropic_api_key=SERVER_KEY, anthropic_base_url=dead).post(
        "/v1/proxy/anthropic/v1/messages", json=MESSAGES, headers=UP
    )
    assert (r.status_code, r.json()) == (502, {"detail": "Bad Gateway"})


def test_mock_mode_answers_mocked(fake_anthropic: FakeAnthropic) -> None:
    r = anthropic_client(fake_anthropic, mock_model_responses=True).post(
        "/v1/proxy/anthropic/v1/messages", json=MESSAGES, headers=UP
    )
    assert r.json() == {"response": "mocked"}
    assert not fake_anthropic.received


def test_vertex_proxy_uses_gateway_project_and_token(fake_vertex: FakeVertex) -> None:
    c = client(
        google_cloud_platform={
            "project": "gw-project",
            "location": "us-east5",
            "service_account_json_key": key_file(fake_vertex.url + "/token"),
        },
        vertex_text_model={"endpoint": fake_vertex.url},
    )
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    model = "publishers/google/models/gemini-2.5-flash:streamGenerateContent"
    path = f"/v1/projects/theirs/locations/eu/{model}"
    r = c.post(f"/v1/proxy/vertex-ai{path}?alt=sse", json=body, headers=UP)
    assert r.status_code == 200
    assert "hello " in r.text and r.text.startswith("data: ")
    sent = fake_vertex.last
    assert sent.path == f"/v1/projects/gw-project/locations/us-east5/{model}"
    assert sent.query == "alt=sse"
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    bad = c.post(
        "/v1/proxy/vertex-ai/v1/projects/p/locations/l/publishers/meta/models/llama:predict",
        json=body,
        headers=UP,
    )
    assert bad.status_code == 404


def test_openai_proxy_streams_chat_with_server_key(fake_openai: FakeOpenAI) -> None:
    c = client(openai_api_key="sk-openai-server", openai_base_url=fake_openai.url + "/v1")
    body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    r = c.post("/v1/proxy/openai/v1/chat/completions", json=body, headers=UP)
    assert r.status_code == 200
    assert r.text.endswith("data: [DONE]\n\n")
    assert fake_openai.last.path == "/v1/chat/completions"
    assert fake_openai.last.headers["authorization"] == "Bearer sk-openai-server"
    refused = c.post(
        "/v1/proxy/openai/v1/chat/completions", json={**body, "model": "o9"}, headers=UP
    )
    assert (refused.status_code, refused.json()) == (400, {"detail": "Unsupported model"})
    assert c.post("/v1/proxy/openai/v1/files", json=body, headers=UP).status_code == 404


def test_the_app_serves_with_the_proxy_it_was_given() -> None:
    """Built once by the app's caller (the Ingress), never lazily per app."""
    config = Config(mock_model_responses=True)
    gateway = Gateway(
        settings=config,
        catalogue=load_catalogue(),
        auth=StubAuth(Identity(bypass=True)),
        assembler=LocalAssembler(PromptAssembler()),
        backends={"mock": MockBackend()},
    )
    proxy = ProviderProxy(config)
    app = create_app(gateway, config.api(), proxy, telemetry=Telemetry.in_memory(config))
    with TestClient(app) as client:
        response = client.post("/v1/proxy/anthropic/v1/messages", json=MESSAGES, headers=UP)
    assert response.json() == {"response": "mocked"}
    assert app.state.proxy is proxy
