"""Every spine endpoint through a real Ray Serve graph, over real HTTP."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.integration.conftest import BYPASS
from tests.payloads import parse_sse, v2_body, v3_body

pytestmark = pytest.mark.serve


def echo_of(text: str) -> dict:
    assert text.startswith("echo: "), text[:80]
    return json.loads(text[len("echo: ") :])


def test_monitoring(http):
    assert http.get("/monitoring/healthz").status_code == 200
    ready = http.get("/monitoring/ready")
    assert ready.status_code == 200 and ready.json() == {"backends": {"mock": True}}


@pytest.mark.parametrize(
    "path", ["/v2/completions", "/v2/code/completions", "/v2/code/generations"]
)
@pytest.mark.parametrize("version", [1, 2, 3])
def test_v2_non_streaming(http, path, version):
    r = http.post(path, json=v2_body(version))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "text_completion" and body["id"] == "id"
    echoed = echo_of(body["choices"][0]["text"].lstrip("\n"))
    assert echoed["stream"] is False


@pytest.mark.parametrize("path", ["/v2/code/completions", "/v2/code/generations"])
def test_v2_streaming_is_raw_text_that_adds_up(http, path):
    with http.stream("POST", path, json=v2_body(1, stream=True)) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        pieces = [p for p in r.iter_raw() if p]
    text = b"".join(pieces).decode()
    assert echo_of(text)["stream"] is True
    assert echo_of(text)["kwargs"] == {} or isinstance(echo_of(text)["kwargs"], dict)


def test_v3_completion_and_stream(http):
    r = http.post("/v3/code/completions", json=v3_body())
    assert r.status_code == 200
    assert r.json()["model"]["lang"] == "go"
    streamed = http.post("/v3/code/completions", json=v3_body(stream=True))
    assert streamed.status_code == 200
    assert echo_of(streamed.text)["stream"] is True


def test_v4_sse_stream(http):
    with http.stream("POST", "/v4/code/suggestions", json=v3_body(stream=True)) as r:
        assert r.status_code == 200
        assert r.headers["x-streaming-format"] == "sse"
        raw = r.read().decode()
    events = parse_sse(raw)
    assert events[0][0] == "stream_start"
    assert events[-1] == ("stream_end", "null")
    text = "".join(json.loads(d)["choices"][0]["delta"]["content"] for e, d in events[1:-1])
    assert echo_of(text)["stream"] is True


def test_v4_non_streaming(http):
    r = http.post("/v4/code/suggestions", json=v3_body())
    assert r.status_code == 200
    assert r.json()["metadata"]["model"]["engine"] == "llm-provider-mocked"


def test_model_definitions_and_docs(gateway_url):
    assert httpx.get(f"{gateway_url}/v1/models/definitions").status_code == 200
    assert httpx.get(f"{gateway_url}/docs").status_code == 200
    assert "/v2/code/completions" in httpx.get(f"{gateway_url}/openapi.json").json()["paths"]


def test_auth_errors_and_bypass_header(gateway_url):
    r = httpx.post(f"{gateway_url}/v2/code/completions", json=v2_body())
    assert r.status_code == 401 and r.json() == {"error": "No authorization header presented"}
    ok = httpx.post(f"{gateway_url}/v2/code/completions", json=v2_body(), headers=BYPASS)
    assert ok.status_code == 200


def test_request_id_echoed_once_and_process_time(http):
    r = http.post("/v2/code/completions", json=v2_body(), headers={"X-Request-ID": "corr-42"})
    assert r.headers.get_list("x-request-id") == ["corr-42"]
    assert float(r.headers["x-process-time"]) >= 0
    minted = http.get("/monitoring/healthz").headers.get_list("x-request-id")
    assert len(minted) == 1 and minted[0]


def test_bad_input_never_500(http):
    assert (
        http.post(
            "/v2/code/completions", content=b"{nope", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )
    body = v2_body()
    body["current_file"]["content_above_cursor"] = "x" * 100_001
    assert http.post("/v2/code/completions", json=body).json() == {
        "detail": "Validation error",
        "errors": http.post("/v2/code/completions", json=body).json()["errors"],
    }
    assert http.post("/v2/code/completions", json={"prompt_version": "one"}).status_code == 422
    assert http.get("/v2/unknown").status_code == 404
    assert http.get("/v4/code/suggestions").status_code == 405


def test_concurrent_requests_all_succeed(http, gateway_url):
    def one(i: int) -> int:
        return httpx.post(
            f"{gateway_url}/v2/code/completions", json=v2_body(), headers=BYPASS, timeout=30
        ).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(one, range(64)))
    assert codes == [200] * 64


def test_split_placement_serves_the_same_contract(split_gateway_url):
    with httpx.Client(base_url=split_gateway_url, timeout=30) as client:
        assert client.post("/v2/code/completions", json=v2_body()).json() == {
            "error": "No authorization header presented"
        }
        r = client.post("/v2/code/completions", json=v2_body(), headers=BYPASS)
        assert r.status_code == 200
        assert echo_of(r.json()["choices"][0]["text"])["prefix"] == "def greet(name):\n    "
        with client.stream(
            "POST", "/v4/code/suggestions", json=v3_body(stream=True), headers=BYPASS
        ) as s:
            events = parse_sse(s.read().decode())
        assert events[-1][0] == "stream_end"


def test_split_placement_runs_auth_and_assembler_as_deployments(split_gateway_url):
    from ray import serve

    deployments = serve.status().applications["aigw_split"].deployments
    assert {"Ingress", "Auth", "PromptAssembler", "MockBackend"} <= set(deployments)
    default = serve.status().applications["aigw"].deployments
    assert not {"Auth", "PromptAssembler", "MockBackend"} & set(default)  # all in the ingress
