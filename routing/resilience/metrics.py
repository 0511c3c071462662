"""The routing layer's metrics (issue 15 §7), each labelled with the policy version that
made the decision, so a reload shows in the series."""

from __future__ import annotations

from observability.metrics import MemoryMetrics, MetricFactory


class RoutingMetrics:
    def __init__(self, factory: MetricFactory | None = None) -> None:
        f = factory if factory is not None else MemoryMetrics()
        self.factory = f
        self.attempts = f.counter(
            "model_attempts_total", "Model call attempts by target and outcome",
            ("target", "outcome", "policy_version"),
        )  # fmt: skip
        self.fallbacks = f.counter(
            "model_fallbacks_total", "Requests moved to a fallback target",
            ("feature", "from", "to", "policy_version"),
        )  # fmt: skip
        self.retries = f.counter(
            "model_retries_total", "Retries on the same target", ("target", "policy_version")
        )
        self.resumes = f.counter(
            "model_stream_resumes_total", "Streams continued on another attempt after content",
            ("feature", "target", "policy_version"),
        )  # fmt: skip
        self.breaker_state = f.gauge(
            "circuit_breaker_state", "Breaker state per target: 0 closed, 1 half-open, 2 open",
            ("target", "policy_version"),
        )  # fmt: skip
        self.budget_exhausted = f.counter(
            "retry_budget_exhausted_total", "Retries refused by the retry budget",
            ("target", "policy_version"),
        )  # fmt: skip
        # Serve 2.60 reports a deploy whose user_config a running replica refused as a
        # success: these two are how the operator sees that the new policy is not running.
        self.policy_refused = f.counter(
            "routing_policy_refused_total",
            "Ingress user_config blocks a running replica refused (its policy stayed)",
            ("version", "block", "policy_version"),
        )  # fmt: skip
        self.policy_active = f.gauge(
            "routing_policy_active", "1 for the routing policy version a replica runs, else 0",
            ("policy_version",),
        )  # fmt: skip

    def activated(self, version: str, previous: str | None = None) -> None:
        if previous is not None and previous != version:
            self.policy_active.record(0, {"policy_version": previous})
        self.policy_active.record(1, {"policy_version": version})
