"""Internal events (API.md §8.3) through the Snowplow emitter to a local collector."""

from __future__ import annotations

import time

from core.settings import InternalEventSettings
from observability.events import (
    AI_CONTEXT_SCHEMA,
    PAYLOAD_SCHEMA,
    STANDARD_CONTEXT_SCHEMA,
    NullEventSink,
    SnowplowEmitter,
    event_sink,
)
from observability.metrics import GatewayMetrics, MemoryMetrics
from tests.fakes.snowplow_collector import SnowplowCollector
from tests.payloads import v2_body
from tests.unit.observability_helpers import LogCapture, SlowBackend, observed


def wait_for(predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def emitter_for(collector: SnowplowCollector, **settings) -> tuple[SnowplowEmitter, MemoryMetrics]:
    store = MemoryMetrics()
    config = InternalEventSettings(enabled=True, endpoint=collector.endpoint, **settings)
    return SnowplowEmitter(config, GatewayMetrics(store)), store


def test_request_events_reach_the_collector_with_gitlab_contexts():
    logs = LogCapture()
    with SnowplowCollector() as collector:
        # Batches by size only: a timer flush between two requests of a loaded machine would
        # send a batch of one.
        emitter, store = emitter_for(collector, batch_size=2, flush_interval_s=60)
        client, _, telemetry = observed(backend=SlowBackend(0.0))
        telemetry.events = emitter
        headers = {
            "X-Request-ID": "corr-1",
            "X-Gitlab-Realm": "saas",
            "X-Gitlab-Instance-Id": "inst-1",
            "X-Gitlab-Global-User-Id": "u-1",
            "X-Gitlab-Feature-Enabled-By-Namespace-Ids": "1,2",
        }
        for _ in range(3):
            client.post("/v2/code/completions", json=v2_body(), headers=headers)
        client.post("/v2/code/generations", json=v2_body(), headers=headers)
        client.get("/monitoring/healthz")  # no unit primitive: no event
        emitter.close()
        events = collector.events()
    assert [e["se_ac"] for e in events] == ["request_complete_code"] * 3 + ["request_generate_code"]
    assert len(collector.payloads) == 2  # batches of two
    assert all(p["schema"] == PAYLOAD_SCHEMA for p in collector.payloads)
    assert collector.payloads[0]["content_type"].startswith("application/json")
    first = events[0]
    assert first["e"] == "se" and first["aid"] == "gitlab_ai_gateway" and first["tna"] == "gl"
    assert first["se_ca"] == "serve_app.api.code_v2.serving"
    contexts = {c["schema"]: c["data"] for c in first["contexts"]["data"]}
    standard = contexts[STANDARD_CONTEXT_SCHEMA]
    assert standard["realm"] == "saas" and standard["instance_id"] == "inst-1"
    assert standard["global_user_id"] == "u-1" and standard["correlation_id"] == "corr-1"
    assert standard["feature_enabled_by_namespace_ids"] == [1, 2]
    assert standard["source"] == "ai-gateway-python"
    assert contexts[AI_CONTEXT_SCHEMA]["model_engine"] == "llm-provider-mocked"
    assert contexts[AI_CONTEXT_SCHEMA]["input_tokens"] == 7
    assert store.total("internal_events_total", outcome="sent") == 4
    access = [x for x in logs.lines() if x.get("logger") == "api.access"]
    assert [x["tracked_internal_events"] for x in access][:4] == [["request_complete_code"]] * 3 + [
        ["request_generate_code"]
    ]
    assert access[-1]["tracked_internal_events"] == []  # healthz


def test_a_full_queue_drops_and_counts_instead_of_blocking():
    with SnowplowCollector() as collector:
        collector.release.clear()  # the collector hangs
        emitter, store = emitter_for(collector, queue_size=2, batch_size=1)
        started = time.perf_counter()
        accepted = [emitter.track_event("request_x", {}, {}, "c") for _ in range(50)]
        assert time.perf_counter() - started < 0.1  # the caller never waits
        assert accepted.count(False) >= 47
        assert emitter.dropped == accepted.count(False)
        assert store.total("internal_events_total", outcome="dropped") == emitter.dropped
        collector.release.set()
        emitter.close()
        assert emitter.sent == accepted.count(True)


def test_collector_errors_are_counted_as_failed():
    with SnowplowCollector(status=400) as collector:
        emitter, store = emitter_for(collector)
        emitter.track_event("request_x", {}, {"label": "l", "value": 3}, "c")
        wait_for(lambda: emitter.failed == 1)
        emitter.close()
    assert store.total("internal_events_total", outcome="failed") == 1


def test_events_are_off_by_default():
    assert isinstance(event_sink(InternalEventSettings(), None), NullEventSink)


def test_with_events_off_no_event_context_is_built(monkeypatch):
    import observability.telemetry as telemetry_module

    built: list[str] = []
    real = telemetry_module.standard_context
    monkeypatch.setattr(
        telemetry_module,
        "standard_context",
        lambda *a, **kw: built.append("standard") or real(*a, **kw),
    )
    client, _, telemetry = observed(backend=SlowBackend(0.0))
    assert isinstance(telemetry.events, NullEventSink)  # the default
    for _ in range(3):
        assert client.post("/v2/code/completions", json=v2_body()).status_code == 200
    assert built == []
