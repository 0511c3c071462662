"""The contract's metrics (API.md §8.1), recorded in memory the way replicas record into Ray."""

from __future__ import annotations

import threading
import time

from core.errors import ModelError, ModelRateLimited
from core.types import Chunk
from tests.payloads import v2_body, v3_body
from tests.unit.observability_helpers import SlowBackend, observed

HEADERS = {
    "X-Gitlab-Realm": "saas",
    "X-Gitlab-Version": "18.5.0",
    "X-Gitlab-Language-Server-Version": "7.20.0",
    "X-Gitlab-Client-Type": "ide",
    "X-Gitlab-Is-Team-Member": "true",
}


def test_each_request_is_counted_once_with_the_contract_labels():
    client, store, _ = observed(backend=SlowBackend(0.0))
    for _ in range(3):
        assert (
            client.post("/v2/code/completions", json=v2_body(), headers=HEADERS).status_code == 200
        )
    client.post("/v2/code/completions", json=v2_body(stream=True), headers=HEADERS)
    assert store.total("model_inferences_total") == 4
    labels = {
        "model_engine": "llm-provider-mocked",
        "gitlab_realm": "saas",
        "gitlab_version": "18.5.0",
        "lsp_version": "7.20.0",
        "client_type": "ide",
        "is_gitlab_team_member": "true",
        "error": "no",
        "error_type": "none",
        "feature_category": "code_suggestions",
        "unit_primitive": "complete_code",
    }
    assert store.total("model_inferences_total", **labels, streaming="no") == 3
    assert store.total("model_inferences_total", **labels, streaming="yes") == 1
    assert len(store.observed("inference_request_duration_seconds")) == 4
    assert store.total("inference_input_tokens", streaming="no") == 3 * 7
    assert store.total("inference_total_tokens") == store.total(
        "inference_input_tokens"
    ) + store.total("inference_output_tokens")
    assert store.total("model_inferences_in_flight") == 0
    assert store.total("http_requests_total", handler="/v2/code/completions", status="2xx") == 4
    assert len(store.observed("http_request_duration_seconds", method="POST")) == 4
    assert store.total("code_suggestions_prompt_language", lang="python", extension="py") == 4
    assert len(store.observed("code_suggestions_post_processing_duration_seconds")) == 3
    assert len(store.observed("gateway_stage_duration_seconds", stage="backend_ttfb")) == 4
    assert len(store.observed("gateway_stage_duration_seconds", stage="gateway")) == 4


def test_model_failures_are_labelled_by_error_type():
    client, store, _ = observed(backend=SlowBackend(0.0, error=ModelRateLimited(retry_after="3")))
    assert client.post("/v2/code/completions", json=v2_body()).status_code == 429
    assert store.total("model_inferences_total", error="yes", error_type="overloaded") == 1
    client, store, _ = observed(backend=SlowBackend(0.0, error=ModelError("x", 400)))
    assert client.post("/v3/code/completions", json=v3_body()).status_code == 503
    assert store.total("model_inferences_total", error="yes", error_type="http_400") == 1
    assert store.total("http_requests_total", status="5xx") == 1
    assert store.total("model_inferences_in_flight") == 0


def test_unknown_paths_do_not_create_a_series_per_path():
    client, store, _ = observed()
    for i in range(3):
        client.get(f"/nope/{i}")
    assert store.total("http_requests_total", handler="none", status="4xx") == 3


def test_engine_limits_are_exported_on_first_use():
    limits = {"llm-provider-mocked": {"llm-mocked": {"concurrency": 5, "input_tokens": 1000}}}
    client, store, _ = observed({"model_engine_limits": limits}, backend=SlowBackend(0.0))
    client.post("/v2/code/completions", json=v2_body())
    assert store.total("model_inferences_max_concurrent", model_name="llm-mocked") == 5
    assert store.total("model_max_input_tokens", model_name="llm-mocked") == 1000


def test_backends_receive_the_correlation_id():
    seen = []

    class Recording(SlowBackend):
        async def generate(self, request):
            seen.append(request.correlation_id)
            return await super().generate(request)

        async def stream(self, request):
            seen.append(request.correlation_id)
            async for chunk in super().stream(request):
                yield chunk

    client, _, _ = observed(backend=Recording(0.0))
    client.post("/v2/code/completions", json=v2_body(), headers={"X-Request-ID": "rid-1"})
    client.post(
        "/v2/code/completions", json=v2_body(stream=True), headers={"X-Request-ID": "rid-2"}
    )
    assert seen == ["rid-1", "rid-2"]


def test_ray_counters_and_gauges_reach_ray_summed_once_a_flush():
    """Counter increments are summed per label set and gauges keep their last value, so a
    request pays a dict update instead of a Ray record; nothing is lost at close."""
    from observability.metrics import _Buffered

    sent: list[tuple[str, float, dict[str, str]]] = []

    def counter(value: float, tags: dict[str, str]) -> None:
        sent.append(("counter", value, tags))

    def gauge(value: float, tags: dict[str, str]) -> None:
        sent.append(("gauge", value, tags))

    buffer = _Buffered()
    try:
        for _ in range(3):
            buffer.add(counter, 1.0, {"status": "2xx"})
        buffer.add(counter, 1.0, {"status": "5xx"})
        buffer.set(gauge, 4.0, {"model": "m"})
        buffer.set(gauge, 2.0, {"model": "m"})
    finally:
        buffer.close()
    assert sorted(sent, key=str) == sorted(
        [
            ("counter", 3.0, {"status": "2xx"}),
            ("counter", 1.0, {"status": "5xx"}),
            ("gauge", 2.0, {"model": "m"}),
        ],
        key=str,
    )
    buffer.flush()
    assert len(sent) == 3  # a flush sends each sum once


def test_ray_histograms_get_every_observation_from_the_flusher_not_the_request():
    """A histogram observation is queued on the request path (Ray is not called there) and
    reaches Ray at the next flush as itself: each value once, in order, with its labels."""
    from observability.metrics import _Buffered

    sent: list[tuple[float, dict[str, str]]] = []
    callers: set[str] = set()

    def histogram(value: float, tags: dict[str, str]) -> None:
        callers.add(threading.current_thread().name)
        sent.append((value, tags))

    buffer = _Buffered()
    try:
        buffer.observe(histogram, 0.25, {"stage": "post"})
        buffer.observe(histogram, 0.5, {"stage": "post"})
        buffer.observe(histogram, 2.0, {"stage": "total"})
        assert sent == []  # nothing reached Ray on the caller's thread
        deadline = time.monotonic() + 5 * _Buffered.FLUSH_S
        while len(sent) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sent == [
            (0.25, {"stage": "post"}),
            (0.5, {"stage": "post"}),
            (2.0, {"stage": "total"}),
        ]
        assert callers == {"aigw-metrics"}
        buffer.observe(histogram, 7.0, {"stage": "post"})
    finally:
        buffer.close()
    assert sent[3:] == [(7.0, {"stage": "post"})]  # queued at close: sent, not lost
    buffer.flush()
    assert len(sent) == 4  # a flush sends each observation once


def test_a_stalled_flusher_keeps_the_newest_observations_only():
    from observability.metrics import _Buffered

    class Small(_Buffered):
        MAX_OBSERVATIONS = 3

    sent: list[float] = []
    buffer = Small()
    buffer.close()  # no flusher thread from here on: observations pile up
    for value in range(5):
        buffer.observe(lambda v, tags: sent.append(v), float(value), {})
    buffer.flush()
    assert sent == [2.0, 3.0, 4.0]


def test_a_streams_finish_reason_labels_its_inference():
    class CutShort(SlowBackend):
        async def stream(self, request):
            yield Chunk(text="def ")
            yield Chunk(text="f", output_tokens=2, final=True, finish_reason="length")

    client, store, _ = observed(backend=CutShort(0.0))
    client.post("/v2/code/completions", json=v2_body(stream=True), headers=HEADERS)
    assert store.total("model_inferences_total", streaming="yes", finish_reason="length") == 1


class _SpyCython:
    """Stands in for Ray's Cython metric: what reaches it is what Ray exports."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, dict[str, str]]] = []

    def record(self, value: float, tags: dict[str, str] | None = None) -> None:
        self.calls.append((value, dict(tags or {})))


def test_ray_histograms_reach_ray_as_observe_would_send_them():
    """Our histograms skip `Histogram.observe`'s Python checks and call Ray's Cython record
    directly; what reaches Ray is the same, and without the private attributes (another Ray)
    they go through `observe`."""
    from ray.util.metrics import Histogram

    from observability.metrics import RayMetrics, _histogram_record

    real = Histogram("aigw_test_stage_seconds", "", boundaries=[1.0], tag_keys=("stage",))
    assert _histogram_record(real) == real._metric.record  # Ray 2.60's layout: direct path

    direct, through_observe = _SpyCython(), _SpyCython()
    fast = Histogram("aigw_test_fast", "", boundaries=[1.0], tag_keys=("stage", "model"))
    fast._metric = direct
    slow = Histogram("aigw_test_slow", "", boundaries=[1.0], tag_keys=("stage", "model"))
    slow._metric = through_observe
    observations = [(0.25, {"stage": "auth", "model": "m"}), (3.0, {"stage": "x", "model": ""})]
    for value, tags in observations:
        _histogram_record(fast)(value, tags)
        slow.observe(value, tags)
    assert (
        direct.calls
        == through_observe.calls
        == [
            (0.25, {"stage": "auth", "model": "m"}),
            (3.0, {"stage": "x", "model": ""}),
        ]
    )

    for missing in ("_metric", "_default_tags", "_discard_metric"):
        other = Histogram("aigw_test_other", "", boundaries=[1.0], tag_keys=("stage",))
        spy = _SpyCython()
        other._metric = spy
        delattr(other, missing)
        assert _histogram_record(other) == other.observe
    defaults = Histogram("aigw_test_defaults", "", boundaries=[1.0], tag_keys=("stage", "model"))
    defaults.set_default_tags({"model": "m"})
    assert _histogram_record(defaults) == defaults.observe  # Ray merges default tags itself

    metrics = RayMetrics()
    try:
        histogram = metrics.histogram("aigw_test_wrapped", "", [1.0], ("stage",))
        histogram.record(0.5, {"stage": "auth"})  # a real Ray record: no exception
    finally:
        metrics.close()


def test_memory_metrics_key_label_sets_whatever_their_order():
    from observability.metrics import MemoryMetrics

    store = MemoryMetrics()
    counter = store.counter("c", "", ("a", "b"))
    gauge = store.gauge("g", "", ("a", "b"))
    counter.record(1.0, {"a": "1", "b": "2"})
    counter.record(2.0, {"b": "2", "a": "1"})
    gauge.record(5.0, {"a": "1", "b": "2"})
    gauge.record(7.0, {"b": "2", "a": "1"})
    labels = (("a", "1"), ("b", "2"))
    assert store.values == {("c", labels): 3.0, ("g", labels): 7.0}
