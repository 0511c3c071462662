"""Fireworks, docs search and embeddings through Ray Serve (one app, `/extra`): Fireworks as
its own deployment against its fake (the score crosses the handle to `filter_score`), the
local docs index with custom models enabled, and embeddings from an OpenAI-compatible fake and
from the embedded model in the ingress replica."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from deployments.search.docs_index import build_index
from tests.fakes.fireworks import KEY, FakeFireworks
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Behaviour
from tests.integration.conftest import BYPASS, deploy, wait_ready
from tests.payloads import v2_body
from tests.unit.search.test_docs_index import PAGES, tree

FIREWORKS = {"model_provider": "gitlab", "model_name": "codestral_2508_fireworks"}


@pytest.fixture(scope="module")
def fireworks() -> Iterator[FakeFireworks]:
    fake = FakeFireworks().serve()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def embeddings_server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().serve()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def extra(
    serve_instance: str, fireworks: FakeFireworks, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    from serve_app.app import build_app

    root = tmp_path_factory.mktemp("docs")
    build_index(tree(root, PAGES), root / "docs.db")
    settings: dict[str, Any] = {
        "auth": {"bypass_external_with_header": True},
        "custom_models": {"enabled": True},
        "fireworks": {"api_key": KEY, "base_url": fireworks.url + "/inference/v1"},
        "feature_flags": {"fireworks_score_threshold": {"codestral-2508": -1.0}},
        "docs_search": {"index_path": str(root / "docs.db")},
    }
    deploy(build_app({"settings": settings}), "aigw_extra", "/extra")
    url = f"{serve_instance}/extra"
    wait_ready(url)
    with httpx.Client(base_url=url, headers=BYPASS, timeout=60) as client:
        yield client


def test_fireworks_completions_and_filter_score_through_serve(
    extra: httpx.Client, fireworks: FakeFireworks
) -> None:
    fireworks.reset()
    fireworks.first_logprob = -0.1
    fireworks.will(Behaviour(text="return name"))
    r = extra.post("/v2/code/completions", json=v2_body(**FIREWORKS))
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["text"] == "return name"
    assert r.json()["model"]["engine"] == "fireworks_ai"
    fireworks.first_logprob = -5.0
    fireworks.will(Behaviour(text="return name"))
    r = extra.post("/v2/code/completions", json=v2_body(**FIREWORKS))
    assert r.json()["choices"] == []
    fireworks.will(Behaviour(pieces=("return ", "name")))
    r = extra.post("/v2/code/completions", json=v2_body(stream=True, **FIREWORKS))
    assert r.text == "return name"


def test_docs_search_from_the_local_index_through_serve(extra: httpx.Client) -> None:
    body = {
        "type": "search",
        "metadata": {"source": "GitLab EE", "version": "17.3"},
        "payload": {"query": "schedule a pipeline", "page_size": 2},
    }
    r = extra.post("/v1/search/gitlab-docs", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["provider"] == "sqlite"
    assert r.json()["response"]["results"][0]["metadata"]["title"] == "Scheduled pipelines"


def test_embeddings_through_serve(extra: httpx.Client, embeddings_server: FakeOpenAI) -> None:
    meta = {
        "provider": "litellm",
        "name": "embedding",
        "identifier": "custom_openai/bge",
        "endpoint": embeddings_server.url + "/v1",
    }
    r = extra.post(
        "/v1/embeddings/code_embeddings/index",
        json={"model_metadata": meta, "contents": ["ab", "c"]},
    )
    assert r.status_code == 200, r.text
    assert [p["embedding"][0] for p in r.json()["predictions"]] == [2.0, 1.0]
    local = {"model_metadata": {"provider": "gitlab", "identifier": ""}, "contents": ["x = 1"]}
    r = extra.post("/v1/embeddings/code_embeddings/search", json=local)
    assert r.status_code == 200, r.text
    assert r.json()["model"]["engine"] == "llama.cpp"
    assert len(r.json()["predictions"][0]["embedding"]) == 576
