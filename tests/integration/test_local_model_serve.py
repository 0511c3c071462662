"""The embedded llama.cpp model behind the real Ray Serve graph (mock mode off, no key).

Its own apps under their own route prefixes: `/local` (the default SmolLM2 model) and
`/local_broken` (a GGUF path that does not exist: never ready, requests get the contract's 503).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import BYPASS, TEST_SETTINGS, deploy, wait_ready
from tests.payloads import parse_sse, v2_body, v3_body

pytest.importorskip("llama_cpp")

LOCAL_SETTINGS: dict[str, Any] = {**TEST_SETTINGS, "mock_model_responses": False}
ENGINE = "llama.cpp"
MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1"


@pytest.fixture(scope="module")
def local_url(serve_instance: str) -> str:
    from serve_app.app import build_app

    deploy(build_app({"settings": LOCAL_SETTINGS}), "aigw_local", "/local")
    url = f"{serve_instance}/local"
    wait_ready(url, timeout_s=120)
    return url


@pytest.fixture
def local(local_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local_url, headers=BYPASS, timeout=120) as client:
        yield client


def timed_stream(client: httpx.Client, path: str, body: dict[str, Any]) -> list[tuple[float, str]]:
    """(seconds since the request, text) for each piece of the body as it arrives."""
    pieces: list[tuple[float, str]] = []
    started = time.perf_counter()
    with client.stream("POST", path, json=body) as r:
        assert r.status_code == 200, r.read()
        for text in r.iter_text():
            pieces.append((time.perf_counter() - started, text))
    return pieces


def test_ready_reports_the_loaded_local_model(local: httpx.Client) -> None:
    r = local.get("/monitoring/ready")
    assert r.status_code == 200
    assert r.json()["backends"]["local"] is True


def test_v2_completion_is_real_model_text_with_real_token_counts(local: httpx.Client) -> None:
    r = local.post("/v2/code/completions", json=v2_body(1))
    assert r.status_code == 200, r.text
    body = r.json()
    model = body["model"]
    assert (model["engine"], model["name"], model["lang"]) == (ENGINE, MODEL_NAME, "python")
    text = body["choices"][0]["text"]
    assert text.strip() and not text.startswith("echo:")
    usage = model["tokens_consumption_metadata"]
    from deployments.suggestions.tokenizer import default_tokenizer

    # The model sees prefix only (SmolLM2 has no FIM tokens): its input is the prefix's tokens.
    prefix = v2_body(1)["current_file"]["content_above_cursor"]
    assert usage["input_tokens"] == default_tokenizer().count(prefix)
    assert 0 < usage["output_tokens"] <= 128


def test_v2_generation_is_real_model_text(local: httpx.Client) -> None:
    body = v2_body(1)
    body["current_file"]["content_above_cursor"] = "# Return the sum of a list of numbers\n"
    r = local.post("/v2/code/generations", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model"]["engine"] == ENGINE
    assert out["choices"] and out["choices"][0]["text"].strip()
    assert not out["choices"][0]["text"].lstrip().startswith("```")  # fences stripped


def test_v2_stream_arrives_piece_by_piece(local: httpx.Client) -> None:
    pieces = timed_stream(local, "/v2/code/completions", v2_body(1, stream=True))
    text = "".join(t for _, t in pieces)
    assert text.strip() and not text.startswith("echo:")
    assert len(pieces) >= 3
    assert pieces[0][0] < pieces[-1][0]


def test_v4_sse_stream_of_real_tokens_arrives_before_the_end(local: httpx.Client) -> None:
    pieces = timed_stream(local, "/v4/code/suggestions", v3_body(stream=True))
    events = parse_sse("".join(t for _, t in pieces))
    assert events[0][0] == "stream_start"
    assert events[-1] == ("stream_end", "null")
    deltas = [json.loads(d)["choices"][0]["delta"]["content"] for _, d in events[1:-1]]
    assert len(deltas) >= 3 and "".join(deltas).strip()
    # The first content event reached the client well before the stream ended.
    first_content = next(t for t, chunk in pieces if "content_chunk" in chunk)
    assert first_content < pieces[-1][0]


def test_v4_generation_non_streaming(local: httpx.Client) -> None:
    r = local.post("/v4/code/suggestions", json=v3_body("code_editor_generation"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["metadata"]["model"]["engine"] == ENGINE
    assert body["choices"][0]["text"].strip()


def test_the_model_placed_in_the_ingress_replica_streams_real_tokens(serve_instance: str) -> None:
    from ray import serve

    from serve_app.app import build_app

    args = {"settings": LOCAL_SETTINGS, "providers_in_ingress": ["mock", "local"]}
    deploy(build_app(args), "aigw_local_in_ingress", "/local_in_ingress")
    url = f"{serve_instance}/local_in_ingress"
    wait_ready(url, timeout_s=120)
    assert "LocalBackend" not in serve.status().applications["aigw_local_in_ingress"].deployments
    with httpx.Client(base_url=url, headers=BYPASS, timeout=120) as client:
        assert client.get("/monitoring/ready").json()["backends"]["local"] is True
        pieces = timed_stream(client, "/v2/code/completions", v2_body(1, stream=True))
    text = "".join(t for _, t in pieces)
    assert text.strip() and not text.startswith("echo:")
    assert len(pieces) >= 3 and pieces[0][0] < pieces[-1][0]
    serve.delete("aigw_local_in_ingress")


def test_a_missing_model_file_is_never_ready_and_answers_503(serve_instance: str) -> None:
    from serve_app.app import build_app

    settings = {**LOCAL_SETTINGS, "local_model": {"path": "/nonexistent/model.gguf"}}
    deploy(build_app({"settings": settings}), "aigw_local_broken", "/local_broken")
    url = f"{serve_instance}/local_broken"
    with httpx.Client(base_url=url, headers=BYPASS, timeout=60) as client:
        deadline = time.monotonic() + 60
        while (r := client.get("/monitoring/ready")).status_code == 404:
            assert time.monotonic() < deadline
            time.sleep(0.25)
        assert r.status_code == 503
        assert r.json()["backends"]["local"] is False
        r = client.post("/v2/code/completions", json=v2_body(1))
        assert r.status_code == 503
        assert r.json() == {"detail": "Inference failed"}
    from ray import serve

    serve.delete("aigw_local_broken")
