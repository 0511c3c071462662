"""The code embeddings routes over HTTP (API.md §1.11): Vertex text embeddings against the
Vertex fake, an OpenAI-compatible `/v1/embeddings` against the OpenAI fake (real SDK), the
embedded llama.cpp model as the default; the model choice's 422s and the provider errors'
400 / 401 / 429 / 504 mapping."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.settings import Config
from deployments.auth import AuthService
from deployments.backends.mock import MockBackend
from deployments.local_assembler import LocalAssembler
from deployments.prompt_assembler import PromptAssembler
from observability.metrics import MemoryMetrics
from observability.telemetry import Telemetry
from routing.builder import final_catalogue
from serve_app.api.app import create_app
from serve_app.gateway import Gateway
from serve_app.proxy.forwarder import ProviderProxy
from serve_app.services import Services
from tests.fakes.google import FakeVertex, service_account_json
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Behaviour

ROUTES = [
    "/v1/embeddings/code_embeddings",
    "/v1/embeddings/code_embeddings/index",
    "/v1/embeddings/code_embeddings/search",
]
CODE = ["def add(a, b):\n    return a + b", "class User:\n    pass"]


def body(contents: list[str] = CODE, **meta: Any) -> dict[str, Any]:
    metadata = {"provider": "gitlab", "identifier": "", **meta}
    return {"model_metadata": metadata, "contents": contents}


def app_client(**settings: Any) -> Iterator[TestClient]:
    config = Config(auth={"bypass_external": True}, **settings)
    catalogue = final_catalogue(config)
    gateway = Gateway(
        settings=config,
        catalogue=catalogue,
        auth=AuthService(config.auth_service()),
        assembler=LocalAssembler(PromptAssembler(config.prompt_assembler())),
        backends={"mock": MockBackend()},
    )
    services = Services.from_config(config, catalogue.provider_models.litellm_prefixes)
    app = create_app(
        gateway,
        config.api(),
        ProviderProxy(config),
        telemetry=Telemetry.in_memory(config),
        services=services,
    )
    with TestClient(app, raise_server_exceptions=False) as client:  # one event loop
        yield client


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().serve()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def vertex_fake() -> Iterator[FakeVertex]:
    fake = FakeVertex().serve()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def local() -> Iterator[TestClient]:
    """No Google project: the embedded model is the default."""
    yield from app_client(custom_models={"enabled": True})


@pytest.fixture(scope="module")
def vertex(vertex_fake: FakeVertex) -> Iterator[TestClient]:
    yield from app_client(
        google_cloud_platform={
            "project": "embed-project",
            "service_account_json_key": service_account_json(vertex_fake.url + "/token"),
        },
        vertex_text_model={"endpoint": vertex_fake.url},
    )


def self_hosted(fake: FakeOpenAI, **meta: Any) -> dict[str, Any]:
    return body(
        provider="litellm",
        name="embedding",
        identifier="custom_openai/nomic-embed-code",
        endpoint=fake.url + "/v1",
        api_key="sk-customer-embed-key",
        **meta,
    )


@pytest.mark.parametrize("route", ROUTES)
def test_vertex_text_embeddings_when_the_gateway_has_a_project(
    vertex: TestClient, vertex_fake: FakeVertex, route: str
) -> None:
    vertex_fake.reset()
    r = vertex.post(route, json={**body(), "dimensions": 256})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["model"] == {
        "engine": "vertex-ai",
        "name": "text-embedding-005",
        "identifier": "",
    }
    assert [p["index"] for p in answer["predictions"]] == [0, 1]
    assert all(len(p["embedding"]) == 256 for p in answer["predictions"])
    sent = vertex_fake.last
    assert sent.path == (
        "/v1/projects/embed-project/locations/us-central1/publishers/google/models/"
        "text-embedding-005:predict"
    )
    assert sent.json()["instances"] == [{"content": c} for c in CODE]
    assert sent.json()["parameters"]["outputDimensionality"] == 256


def test_an_openai_compatible_endpoint_via_model_metadata(
    local: TestClient, openai_fake: FakeOpenAI
) -> None:
    openai_fake.reset()
    r = local.post(ROUTES[0], json={**self_hosted(openai_fake), "dimensions": 4})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["model"]["engine"] == "litellm"
    assert answer["model"]["identifier"] == "custom_openai/nomic-embed-code"
    # The fake answers out of order: predictions follow the contents.
    assert answer["predictions"][0] == {"embedding": [31.0, 32.0, 33.0, 34.0], "index": 0}
    sent = openai_fake.last
    assert sent.path == "/v1/embeddings"
    assert sent.json() == {
        "model": "nomic-embed-code",
        "input": CODE,
        "dimensions": 4,
        "encoding_format": "float",
    }
    assert sent.headers["authorization"] == "Bearer sk-customer-embed-key"


@pytest.mark.parametrize(
    ("status", "code", "detail"),
    [
        (400, 400, "openai-compatible embeddings: the request was refused (400)"),
        (422, 400, "openai-compatible embeddings: the request was refused (422)"),
        (401, 401, "openai-compatible embeddings: authentication failed"),
        (429, 429, "Too many requests. Please try again later."),
        (500, 503, "Inference failed"),
    ],
)
def test_provider_errors_map_as_the_contract_says(
    local: TestClient, openai_fake: FakeOpenAI, status: int, code: int, detail: str
) -> None:
    openai_fake.reset()
    headers = {"retry-after": "7"} if status == 429 else {}
    openai_fake.will(Behaviour(kind="status", status=status, headers=headers))
    r = local.post(ROUTES[1], json=self_hosted(openai_fake))
    assert (r.status_code, r.json()) == (code, {"detail": detail})
    if status == 429:
        assert r.headers["retry-after"] == "7"
    assert "sk-customer-embed-key" not in r.text


def test_a_slow_provider_is_504(openai_fake: FakeOpenAI) -> None:
    openai_fake.reset()
    openai_fake.will(Behaviour(delay_s=2.0))
    for client in app_client(custom_models={"enabled": True}, model_timeouts={"total_s": 0.5}):
        r = client.post(ROUTES[0], json=self_hosted(openai_fake))
        assert (r.status_code, r.json()) == (
            504,
            {"detail": "openai-compatible embeddings timed out"},
        )


@pytest.mark.parametrize(
    ("meta", "detail"),
    [
        ({"provider": "anthropic"}, "Allowed providers are: gitlab|litellm."),
        ({"provider": "litellm"}, "Model `name` must be set when using `litellm` provider."),
        (
            {"provider": "litellm", "name": "llama3"},
            "Model `name` must be 'embedding' when using `litellm` provider.",
        ),
        (
            {"provider": "litellm", "name": "embedding"},
            "Model `endpoint` must be set when using `litellm` provider.",
        ),
        (
            {"identifier": "claude_sonnet_4_5_20250929"},
            "Error creating the model_metadata: no embedding model 'claude_sonnet_4_5_20250929'",
        ),
    ],
)
def test_model_choice_errors_are_422(local: TestClient, meta: Any, detail: str) -> None:
    r = local.post(ROUTES[2], json=body(**meta))
    assert (r.status_code, r.json()) == (422, {"detail": detail})


def test_custom_endpoints_need_custom_models(openai_fake: FakeOpenAI) -> None:
    for client in app_client():
        r = client.post(ROUTES[0], json=self_hosted(openai_fake))
        assert r.json() == {"detail": "specifying custom models endpoint is disabled"}


def test_request_shape_is_validated(local: TestClient) -> None:
    assert local.post(ROUTES[0], json={"contents": ["x"]}).status_code == 422
    no_identifier = {"model_metadata": {"provider": "gitlab"}, "contents": ["x"]}
    assert local.post(ROUTES[0], json=no_identifier).status_code == 422
    assert local.post(ROUTES[0], json={**body(), "dimensions": 0}).status_code == 422


def test_the_embedded_model_is_the_default_without_a_google_project(local: TestClient) -> None:
    r = local.post(ROUTES[0], json={**body(contents=[*CODE, CODE[0]]), "dimensions": 64})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["model"]["engine"] == "llama.cpp"
    vectors = [p["embedding"] for p in answer["predictions"]]
    assert [len(v) for v in vectors] == [64, 64, 64]
    assert math.isclose(math.sqrt(sum(x * x for x in vectors[0])), 1.0, rel_tol=1e-6)
    assert vectors[0] == vectors[2] != vectors[1]  # the same text, the same vector
    full = local.post(ROUTES[0], json=body(identifier="smollm2_135m_local", contents=["x"]))
    assert len(full.json()["predictions"][0]["embedding"]) == 576
    too_wide = local.post(ROUTES[0], json={**body(), "dimensions": 1024})
    assert (too_wide.status_code, too_wide.json()) == (
        400,
        {"detail": "dimensions must be at most 576 for SmolLM2-135M-Instruct.Q4_1"},
    )


def test_embeddings_are_counted_and_timed_by_backend_and_outcome(
    local: TestClient, vertex: TestClient, vertex_fake: FakeVertex, openai_fake: FakeOpenAI
) -> None:
    metrics: MemoryMetrics = local.app.state.retrieval_metrics.factory  # type: ignore[attr-defined]
    cases = [("local", "ok"), ("openai", "rate_limited"), ("none", "rejected")]

    def counts() -> list[float]:
        return [metrics.total("embeddings_requests_total", backend=b, outcome=o) for b, o in cases]

    before = counts()
    assert local.post(ROUTES[0], json=body(contents=["x = 1"])).status_code == 200
    openai_fake.reset()
    openai_fake.will(Behaviour(kind="status", status=429))
    assert local.post(ROUTES[1], json=self_hosted(openai_fake)).status_code == 429
    unknown = body(identifier="claude_sonnet_4_5_20250929")
    assert local.post(ROUTES[2], json=unknown).status_code == 422
    assert [a - b for a, b in zip(counts(), before, strict=True)] == [1, 1, 1]
    assert metrics.observed("embeddings_request_duration_seconds", backend="local")
    # The label is the backend kind, never the customer's endpoint, model or key.
    labels = {tag for (name, tags) in metrics.values for tag in tags if name.startswith("embed")}
    assert {k for k, _ in labels} == {"backend", "outcome"}
    vertex_fake.reset()
    assert vertex.post(ROUTES[0], json=body()).status_code == 200
    on_vertex: MemoryMetrics = vertex.app.state.retrieval_metrics.factory  # type: ignore[attr-defined]
    assert on_vertex.total("embeddings_requests_total", backend="vertex", outcome="ok") >= 1
