"""Metrics of the two retrieval routes: docs search (`/v1/search/gitlab-docs`, API.md §1.8) and
code embeddings (`/v1/embeddings/code_embeddings*`, §1.11).

Neither is a model inference (no prompt, no tokens), so neither appears in
`model_inferences_total`; an operator still needs to see how often each backend answers, fails
and how long it takes. Per route family: a request counter by `backend` and `outcome` and a
latency histogram by `backend`. Both labels take a handful of fixed values (the backend kinds,
`outcome_of`'s classes): no query text, model name, endpoint or key ever becomes a label.
Exported through the replica's `MetricFactory` like every other metric (Ray adds `ray_`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

from core.errors import GatewayError
from observability.metrics import FAST_BUCKETS, Metric, MetricFactory

# Docs searchers' `provider` (the answer's `metadata.provider`) -> the `backend` label.
SEARCH_BACKENDS = {"vertex-ai": "vertex", "sqlite": "local", "mock": "mock"}
NO_BACKEND = "none"  # refused before a backend was chosen (not configured, no such model)


def outcome_of(exc: BaseException | None) -> str:
    """`ok`, or the class of the failure: what the caller did wrong (`rejected`), a provider's
    429 (`rate_limited`), a deadline (`timeout`), a client gone (`cancelled`), else `error`."""
    if exc is None:
        return "ok"
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    status = exc.status_code if isinstance(exc, GatewayError) else 500
    if status == 429:
        return "rate_limited"
    if status == 504:
        return "timeout"
    return "rejected" if 400 <= status < 500 else "error"


class Measured:
    """The request being measured; the handler names its backend once it is known."""

    __slots__ = ("backend",)

    def __init__(self, backend: str) -> None:
        self.backend = backend


class RetrievalMetrics:
    def __init__(self, factory: MetricFactory) -> None:
        self.factory = factory
        tags = ("backend", "outcome")
        self.search_requests = factory.counter(
            "docs_search_requests_total", "Docs search requests by backend and outcome", tags
        )
        self.search_duration = factory.histogram(
            "docs_search_request_duration_seconds", "Docs search latency", FAST_BUCKETS,
            ("backend",),
        )  # fmt: skip
        self.embedding_requests = factory.counter(
            "embeddings_requests_total", "Embeddings requests by backend and outcome", tags
        )
        self.embedding_duration = factory.histogram(
            "embeddings_request_duration_seconds", "Embeddings latency", FAST_BUCKETS,
            ("backend",),
        )  # fmt: skip

    @contextmanager
    def docs_search(self, provider: str | None) -> Iterator[Measured]:
        backend = NO_BACKEND if provider is None else SEARCH_BACKENDS.get(provider, "other")
        with self._measured(self.search_requests, self.search_duration, backend) as measured:
            yield measured

    @contextmanager
    def embeddings(self) -> Iterator[Measured]:
        """The handler sets `backend` (`vertex`, `openai`, `local`, `mock`) once chosen."""
        with self._measured(self.embedding_requests, self.embedding_duration, NO_BACKEND) as m:
            yield m

    @contextmanager
    def _measured(self, requests: Metric, duration: Metric, backend: str) -> Iterator[Measured]:
        measured = Measured(backend)
        started = time.perf_counter()
        failure: BaseException | None = None
        try:
            yield measured
        except BaseException as exc:
            failure = exc
            raise
        finally:
            seconds = time.perf_counter() - started
            tags = {"backend": measured.backend}
            requests.record(1.0, {**tags, "outcome": outcome_of(failure)})
            duration.record(seconds, tags)
