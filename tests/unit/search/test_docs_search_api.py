"""`POST /v1/search/gitlab-docs` over HTTP: the local index with custom models enabled, Vertex
AI Search (against its REST fake) otherwise; the contract's bounds and errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.settings import Config
from deployments.auth import AuthService
from deployments.backends.mock import MockBackend
from deployments.local_assembler import LocalAssembler
from deployments.prompt_assembler import PromptAssembler
from deployments.search.docs_index import build_index
from observability.metrics import MemoryMetrics
from observability.telemetry import Telemetry
from routing.builder import final_catalogue
from serve_app.api.app import create_app
from serve_app.gateway import Gateway
from serve_app.proxy.forwarder import ProviderProxy
from serve_app.services import Services
from tests.fakes.discovery_engine import FakeDiscoveryEngine, document
from tests.fakes.google import service_account_json
from tests.fakes.server import Behaviour
from tests.unit.search.test_docs_index import PAGES, tree

PATH = "/v1/search/gitlab-docs"


def body(query: str = "schedule a pipeline", version: str = "17.3.1-ee", **payload: Any) -> Any:
    return {
        "type": "search",
        "metadata": {"source": "GitLab EE", "version": version},
        "payload": {"query": query, **payload},
    }


def client(config: Config) -> TestClient:
    catalogue = final_catalogue(config)
    gateway = Gateway(
        settings=config,
        catalogue=catalogue,
        auth=AuthService(config.auth_service()),
        assembler=LocalAssembler(PromptAssembler(config.prompt_assembler())),
        backends={"mock": MockBackend()},
    )
    app = create_app(
        gateway,
        config.api(),
        ProviderProxy(config),
        telemetry=Telemetry.in_memory(config),
        services=Services.from_config(config, catalogue.provider_models.litellm_prefixes),
    )
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    root = tmp_path_factory.mktemp("docs")
    output = root / "docs.db"
    build_index(tree(root, PAGES), output)
    return client(
        Config(
            auth={"bypass_external": True},
            custom_models={"enabled": True},
            docs_search={"index_path": str(output)},
        )
    )


def test_local_index_answers_the_contract_shape(local: TestClient) -> None:
    r = local.post(PATH, json=body(page_size=2))
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["metadata"]["provider"] == "sqlite"
    assert isinstance(answer["metadata"]["timestamp"], int)
    results = answer["response"]["results"]
    assert 1 <= len(results) <= 2
    assert set(results[0]) == {"id", "content", "metadata"}
    assert results[0]["metadata"]["title"] == "Scheduled pipelines"


@pytest.mark.parametrize(
    "bad",
    [
        body(page_size=0),
        body(page_size=21),
        body(query="x" * 400_001),
        {"metadata": {"source": "s", "version": "1"}, "payload": {"query": "q"}},
        {"type": "search", "payload": {"query": "q"}},
    ],
)
def test_bounds_and_required_fields_are_422(local: TestClient, bad: Any) -> None:
    r = local.post(PATH, json=bad)
    assert r.status_code == 422
    assert r.json()["detail"] == "Validation error"


def test_page_size_defaults_to_4(local: TestClient) -> None:
    r = local.post(PATH, json=body(query="project pipeline variables backup schedule"))
    assert len(r.json()["response"]["results"]) == 4


@pytest.fixture(scope="module")
def engine() -> Iterator[FakeDiscoveryEngine]:
    fake = FakeDiscoveryEngine().serve()
    yield fake
    fake.close()


def vertex(engine: FakeDiscoveryEngine, fallback: str = "17.0") -> TestClient:
    return client(
        Config(
            auth={"bypass_external": True},
            google_cloud_platform={
                "project": "docs-project",
                "service_account_json_key": service_account_json(engine.url + "/token"),
            },
            vertex_search={"endpoint": engine.url, "fallback_datastore_version": fallback},
        )
    )


def test_vertex_search_asks_the_versions_data_store(engine: FakeDiscoveryEngine) -> None:
    engine.reset()
    engine.stores = {"gitlab-docs-17-3": [document("a1", "Pipelines run", "CI", "https://d/ci")]}
    r = vertex(engine).post(PATH, json=body(page_size=3))
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["provider"] == "vertex-ai"
    assert r.json()["response"]["results"] == [
        {
            "id": "a1",
            "content": "Pipelines run",
            "metadata": {
                "title": "CI",
                "source_url": "https://d/ci",
                "md5sum": "a1",
                "source": "doc",
            },
        }
    ]
    sent = engine.last
    assert sent.path == (
        "/v1/projects/docs-project/locations/global/collections/default_collection"
        "/dataStores/gitlab-docs-17-3/servingConfigs/default_config:search"
    )
    assert sent.json()["pageSize"] == 3 and sent.json()["query"] == "schedule a pipeline"
    assert sent.json()["queryExpansionSpec"] == {"condition": "AUTO"}


def test_an_unknown_version_falls_back_then_is_400(engine: FakeDiscoveryEngine) -> None:
    engine.reset()
    engine.stores = {"gitlab-docs-17-0": [document("b", "old docs", "Old", "https://d/old")]}
    r = vertex(engine).post(PATH, json=body(version="99.1"))
    assert r.json()["response"]["results"][0]["id"] == "b"
    assert [x.path.split("/dataStores/")[1].split("/")[0] for x in engine.received[-2:]] == [
        "gitlab-docs-99-1",
        "gitlab-docs-17-0",
    ]
    r = vertex(engine, fallback="").post(PATH, json=body(version="not-a-version"))
    assert (r.status_code, r.json()) == (400, {"detail": "Data store not found."})


def test_a_failing_vertex_is_503_not_500(engine: FakeDiscoveryEngine) -> None:
    engine.reset()
    engine.stores = {"gitlab-docs-17-3": []}
    engine.will(Behaviour(kind="status", status=500))
    r = vertex(engine).post(PATH, json=body())
    assert (r.status_code, r.json()) == (503, {"detail": "Vertex API Search Error."})


def searches(c: TestClient, backend: str, outcome: str) -> float:
    metrics: MemoryMetrics = c.app.state.retrieval_metrics.factory  # type: ignore[attr-defined]
    return metrics.total("docs_search_requests_total", backend=backend, outcome=outcome)


def test_searches_are_counted_and_timed_by_backend_and_outcome(
    local: TestClient, engine: FakeDiscoveryEngine
) -> None:
    before = searches(local, "local", "ok")
    assert local.post(PATH, json=body()).status_code == 200
    assert searches(local, "local", "ok") == before + 1
    metrics: MemoryMetrics = local.app.state.retrieval_metrics.factory  # type: ignore[attr-defined]
    assert metrics.observed("docs_search_request_duration_seconds", backend="local")
    engine.reset()
    engine.stores = {"gitlab-docs-17-3": [document("a1", "Pipelines run", "CI", "https://d/ci")]}
    with vertex(engine, fallback="") as on_vertex:  # one event loop for the three
        assert on_vertex.post(PATH, json=body()).status_code == 200
        assert on_vertex.post(PATH, json=body(version="99.1")).status_code == 400
        engine.will(Behaviour(kind="status", status=500))
        assert on_vertex.post(PATH, json=body()).status_code == 503
    assert [searches(on_vertex, "vertex", o) for o in ("ok", "rejected", "error")] == [1, 1, 1]
