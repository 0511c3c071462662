"""The contract's Prometheus metrics (API.md §8.1), recorded through `ray.util.metrics`.

Why Ray's metrics: a `prometheus_client` registry lives in one process, and a Serve app has many
replicas on many nodes. `ray.util.metrics` sends each replica's series to its node's metrics
agent, which serves all of them on the node's metrics export port (`aigw run` puts that on
`AIGW_FASTAPI__METRICS_PORT`). Ray prefixes every name with `ray_` and adds `WorkerId`,
`NodeAddress`, `SessionName`, `Component` and `Version` labels: sum over `WorkerId` to
aggregate replicas. Unit tests record into `MemoryMetrics` instead (no Ray).

A Ray record costs microseconds in a replica and a request makes about eighteen: none is made on
the request path. Counters and gauges are buffered, histogram observations queued, and a thread
hands them to Ray once a second (`_Buffered`).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

from observability.record import STAGES

K = TypeVar("K")
V = TypeVar("V")
LATENCY_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)  # contract's buckets
FAST_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip

INFERENCE_TAGS = (
    "model_engine",
    "model_name",
    "lsp_version",
    "gitlab_version",
    "client_type",
    "gitlab_realm",
    "is_gitlab_team_member",
    "error",
    "error_type",
    "streaming",
    "feature_category",
    "unit_primitive",
    "finish_reason",
)
MODEL_TAGS = ("model_engine", "model_name")
HTTP_TAGS = ("handler", "method", "status")
LIMIT_GAUGES = {
    "concurrency": "model_inferences_max_concurrent",
    "input_tokens": "model_max_input_tokens",
    "output_tokens": "model_max_output_tokens",
    "total_tokens": "model_max_total_tokens",
}


class Metric(Protocol):
    def record(self, value: float, tags: Mapping[str, str]) -> None: ...


class MetricFactory(Protocol):
    def counter(self, name: str, description: str, tag_keys: Sequence[str]) -> Metric: ...
    def histogram(
        self, name: str, description: str, boundaries: Sequence[float], tag_keys: Sequence[str]
    ) -> Metric: ...
    def gauge(self, name: str, description: str, tag_keys: Sequence[str]) -> Metric: ...


def _histogram_record(metric: Any) -> Any:
    """What a histogram observation calls: Ray's Cython `record` itself when the Python
    `Histogram.observe` in front of it would only re-check what our callers guarantee (tag
    values are `str` (typed `Mapping[str, str]`), every tag key given, no default tags to merge):
    its checks were a third of an observation's Python cost, and a request makes eleven. Falls
    back to `observe` when Ray's private attributes are not what this expects."""
    cython = getattr(metric, "_metric", None)
    record = getattr(cython, "record", None)
    if (
        record is None
        or getattr(metric, "_discard_metric", True) is not False
        or getattr(metric, "_default_tags", None) != {}
    ):
        return metric.observe
    return record


class _Buffered:
    """Counter increments summed, gauge values kept and histogram observations queued, and all
    handed to Ray once a second from this thread: Ray exports every few seconds anyway, and on
    the request path a Ray record cost a replica's loop thread ~5 us of CPU each (eleven a
    request), more in wall time (it lets go of the GIL, and other threads take it), where a
    dict update or a deque append costs a tenth of a microsecond."""

    FLUSH_S = 1.0
    # Observations queued between two flushes at most (~100 s of a busy replica's); beyond it
    # the oldest go, so that a stalled flusher cannot grow the replica without bound.
    MAX_OBSERVATIONS = 1_000_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sums: dict[tuple[Any, tuple[tuple[str, str], ...]], float] = {}
        self._latest: dict[tuple[Any, tuple[tuple[str, str], ...]], float] = {}
        # deque: append and popleft are atomic, so the request path takes no lock.
        self._observed: deque[tuple[Any, float, Mapping[str, str]]] = deque(
            maxlen=self.MAX_OBSERVATIONS
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aigw-metrics", daemon=True)
        self._thread.start()

    def add(self, fn: Any, value: float, tags: Mapping[str, str]) -> None:
        key = (fn, tuple(tags.items()))
        with self._lock:
            self._sums[key] = self._sums.get(key, 0.0) + value

    def set(self, fn: Any, value: float, tags: Mapping[str, str]) -> None:
        with self._lock:
            self._latest[(fn, tuple(tags.items()))] = value

    def observe(self, fn: Any, value: float, tags: Mapping[str, str]) -> None:
        """A histogram observation; `tags` is kept as it is (callers never change one after)."""
        self._observed.append((fn, value, tags))

    def flush(self) -> None:
        with self._lock:
            sums, self._sums = self._sums, {}
            latest, self._latest = self._latest, {}
        try:
            # Observations first: a scrape that shows a request counted shows its durations.
            observed, pop = self._observed, self._observed.popleft
            for _ in range(len(observed)):  # what is queued now; later ones wait for the next
                fn, value, tags = pop()
                fn(value, tags)
            for (fn, items), value in (*sums.items(), *latest.items()):
                fn(value, dict(items))
        except Exception:  # Ray gone (replica shutdown): the metrics go with it
            return

    def _run(self) -> None:
        while not self._stop.wait(self.FLUSH_S):
            self.flush()

    def close(self) -> None:
        """Stop the thread (after the flush it may be in) and send what is left."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self.flush()


class _BufferedMetric:
    __slots__ = ("_fn", "_record")

    def __init__(self, record: Any, fn: Any) -> None:
        self._record, self._fn = record, fn

    def record(self, value: float, tags: Mapping[str, str]) -> None:
        self._record(self._fn, value, tags)


class RayMetrics:
    """Metrics exported by Ray's metrics agent (one series per replica; Ray adds `ray_`)."""

    def __init__(self) -> None:
        self.buffer = _Buffered()

    def counter(self, name: str, description: str, tag_keys: Sequence[str]) -> Metric:
        from ray.util.metrics import Counter

        inc = Counter(name, description, tag_keys=tuple(tag_keys)).inc
        return _BufferedMetric(self.buffer.add, inc)

    def histogram(
        self, name: str, description: str, boundaries: Sequence[float], tag_keys: Sequence[str]
    ) -> Metric:
        from ray.util.metrics import Histogram

        metric = Histogram(name, description, boundaries=list(boundaries), tag_keys=tuple(tag_keys))
        return _BufferedMetric(self.buffer.observe, _histogram_record(metric))

    def gauge(self, name: str, description: str, tag_keys: Sequence[str]) -> Metric:
        from ray.util.metrics import Gauge

        gauge = Gauge(name, description, tag_keys=tuple(tag_keys)).set
        return _BufferedMetric(self.buffer.set, gauge)

    def close(self) -> None:
        self.buffer.close()


_KEYS_MAX = 4096  # label sets remembered per metric (a client-chosen label cannot grow it more)


def _remember(cache: dict[K, V], key: K, value: V) -> V:
    """`value`, kept as `key`'s while the cache has room (a client-chosen label, an odd HTTP
    method, cannot grow it)."""
    if len(cache) < _KEYS_MAX:
        cache[key] = value
    return value


class _MemoryMetric:
    def __init__(self, store: MemoryMetrics, name: str, kind: str) -> None:
        self.store, self.name, self.kind = store, name, kind
        # Label set as given -> the store's key (labels sorted, so that key order does not
        # matter): each call site builds its tags in one fixed order, and sorting thirteen
        # labels on every record was 3 % of a request's instructions in `bench.inproc`.
        self._keys: dict[tuple[tuple[str, str], ...], tuple[str, tuple[tuple[str, str], ...]]] = {}

    def record(self, value: float, tags: Mapping[str, str]) -> None:
        items = tuple(tags.items())
        key = self._keys.get(items) or _remember(
            self._keys, items, (self.name, tuple(sorted(items)))
        )
        with self.store.lock:
            if self.kind == "counter":
                self.store.values[key] = self.store.values.get(key, 0.0) + value
            elif self.kind == "gauge":
                self.store.values[key] = value
            else:
                self.store.observations.setdefault(key, []).append(value)


class MemoryMetrics:
    """In-process metrics for tests and for running without Ray."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.observations: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}

    def counter(self, name: str, description: str, tag_keys: Sequence[str]) -> Metric:
        return _MemoryMetric(self, name, "counter")

    def histogram(
        self, name: str, description: str, boundaries: Sequence[float], tag_keys: Sequence[str]
    ) -> Metric:
        return _MemoryMetric(self, name, "histogram")

    def gauge(self, name: str, description: str, tag_keys: Sequence[str]) -> Metric:
        return _MemoryMetric(self, name, "gauge")

    def total(self, name: str, **match: str) -> float:
        """Sum of a counter/gauge over the series whose labels include `match`."""
        return sum(
            v
            for (n, tags), v in self.values.items()
            if n == name and match.items() <= dict(tags).items()
        )

    def observed(self, name: str, **match: str) -> list[float]:
        return [
            x
            for (n, tags), values in self.observations.items()
            if n == name and match.items() <= dict(tags).items()
            for x in values
        ]


class GatewayMetrics:
    """Every metric the gateway records, with the contract's names and labels."""

    def __init__(
        self,
        factory: MetricFactory,
        engine_limits: Mapping[str, Mapping[str, Mapping[str, int]]] | None = None,
    ) -> None:
        f = self.factory = factory
        self.http_requests = f.counter(
            "http_requests_total", "HTTP requests by handler, method and status", HTTP_TAGS
        )
        self.http_duration = f.histogram(
            "http_request_duration_seconds",
            "HTTP latency (to the response head for streams)",
            LATENCY_BUCKETS,
            HTTP_TAGS,
        )
        self.inferences = f.counter("model_inferences_total", "Model calls", INFERENCE_TAGS)
        self.inference_duration = f.histogram(
            "inference_request_duration_seconds", "Model call duration", LATENCY_BUCKETS,
            INFERENCE_TAGS,
        )  # fmt: skip
        self.input_tokens = f.counter("inference_input_tokens", "Input tokens", INFERENCE_TAGS)
        self.output_tokens = f.counter("inference_output_tokens", "Output tokens", INFERENCE_TAGS)
        self.total_tokens = f.counter("inference_total_tokens", "Total tokens", INFERENCE_TAGS)
        self.in_flight = f.gauge("model_inferences_in_flight", "Model calls running", MODEL_TAGS)
        self.limits = {
            key: f.gauge(name, f"Configured {key} limit", MODEL_TAGS)
            for key, name in LIMIT_GAUGES.items()
        }
        self.prompt_language = f.counter(
            "code_suggestions_prompt_language",
            "Code suggestions by detected language",
            ("lang", "extension", "editor_lang"),
        )
        self.post_processing = f.histogram(
            "code_suggestions_post_processing_duration_seconds",
            "Post-processing duration",
            FAST_BUCKETS,
            MODEL_TAGS,
        )
        self.stage_duration = f.histogram(
            "gateway_stage_duration_seconds",
            "Time per gateway stage (X-Gateway-Timing); stage=gateway is total minus model time",
            FAST_BUCKETS,
            ("stage",),
        )
        self.events = f.counter(
            "internal_events_total", "Internal events by outcome (sent, dropped, failed)",
            ("outcome",),
        )  # fmt: skip
        self._engine_limits = engine_limits or {}
        self._limits_set: set[tuple[str, str]] = set()
        self._running: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        # The label dicts of the per-request records, built once per label set and shared
        # (a metric only reads its tags): a request records ~19 metrics.
        self._http_tags: dict[tuple[str, str, int], dict[str, str]] = {}
        self._model_tags: dict[tuple[str, str], dict[str, str]] = {}
        self._stage_tags: dict[str, dict[str, str]] = {
            stage: {"stage": stage} for stage in (*STAGES, "total", "gateway")
        }

    def http(self, handler: str, method: str, status: int, seconds: float) -> None:
        key = (handler, method, status // 100)
        tags = self._http_tags.get(key) or _remember(
            self._http_tags, key, {"handler": handler, "method": method, "status": f"{key[2]}xx"}
        )
        self.http_requests.record(1.0, tags)
        self.http_duration.record(seconds, tags)

    def inference_started(self, engine: str, name: str) -> None:
        self._add_running(engine, name, 1)
        key = (engine, name)
        if key not in self._limits_set:
            self._limits_set.add(key)
            limits = self._engine_limits.get(engine, {}).get(name, {})
            for limit, value in limits.items():
                if limit in self.limits:
                    self.limits[limit].record(float(value), self._model(engine, name))

    def inference_finished(
        self, tags: Mapping[str, str], seconds: float, input_tokens: int, output_tokens: int
    ) -> None:
        self._add_running(tags["model_engine"], tags["model_name"], -1)
        self.inferences.record(1.0, tags)
        self.inference_duration.record(seconds, tags)
        if input_tokens:
            self.input_tokens.record(float(input_tokens), tags)
        if output_tokens:
            self.output_tokens.record(float(output_tokens), tags)
        if input_tokens or output_tokens:
            self.total_tokens.record(float(input_tokens + output_tokens), tags)

    def _add_running(self, engine: str, name: str, delta: int) -> None:
        with self._lock:
            count = self._running.get((engine, name), 0) + delta
            self._running[(engine, name)] = count
        self.in_flight.record(float(count), self._model(engine, name))

    def _model(self, engine: str, name: str) -> dict[str, str]:
        key = (engine, name)
        return self._model_tags.get(key) or _remember(
            self._model_tags, key, {"model_engine": engine, "model_name": name}
        )

    def language(self, lang: str, extension: str, editor_lang: str) -> None:
        self.prompt_language.record(
            1.0, {"lang": lang, "extension": extension, "editor_lang": editor_lang}
        )

    def post_processed(self, engine: str, name: str, seconds: float) -> None:
        self.post_processing.record(seconds, self._model(engine, name))

    def stages(self, stages: Mapping[str, float], total_s: float) -> None:
        record, known = self.stage_duration.record, self._stage_tags
        for stage, seconds in stages.items():
            # A stage of its own (timing.Stopwatch) gets its dict on first sight.
            record(seconds, known.get(stage) or _remember(known, stage, {"stage": stage}))
        record(total_s, known["total"])
        record(max(0.0, total_s - stages.get("backend_ttfb", 0.0)), known["gateway"])

    def close(self) -> None:
        """Hand what is buffered to the exporter (replica shutdown)."""
        close = getattr(self.factory, "close", None)
        if close is not None:
            close()

    def event(self, outcome: str, count: int = 1) -> None:
        self.events.record(float(count), {"outcome": outcome})
