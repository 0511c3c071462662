"""Admission metrics: decisions per rule, tokens reserved and committed, and the remaining
budget of the keys closest to their limit (a gauge for every key would be unbounded)."""

from __future__ import annotations

import threading

from observability.metrics import MetricFactory

TOP_KEYS = 10


class AdmissionMetrics:
    def __init__(self, factory: MetricFactory) -> None:
        self.decisions = factory.counter(
            "rate_limit_decisions_total", "Admission decisions by rule", ("rule", "decision")
        )
        self.shadow_refusals = factory.counter(
            "rate_limit_shadow_refusals_total",
            "Requests a shadow-mode rule would have refused",
            ("rule",),
        )
        self.reserved = factory.counter(
            "rate_limit_tokens_reserved_total", "Tokens reserved at admission", ("rule",)
        )
        self.committed = factory.counter(
            "rate_limit_tokens_committed_total", "Tokens charged when requests ended", ("rule",)
        )
        self.remaining_gauge = factory.gauge(
            "rate_limit_remaining", "Budget left in the window, for the keys closest to it",
            ("rule", "quota", "key"),
        )  # fmt: skip
        self.queue_gauge = factory.gauge(
            "admission_queue_depth", "Requests waiting for a saturated backend, by class",
            ("backend", "class"),
        )  # fmt: skip
        self.shed_counter = factory.counter(
            "admission_shed_total", "Requests shed by a saturated backend's priority gate",
            ("backend", "class", "reason"),
        )  # fmt: skip
        self._lowest: dict[tuple[str, str], dict[str, int]] = {}
        self._lock = threading.Lock()

    def decision(self, rule: str, decision: str) -> None:
        self.decisions.record(1.0, {"rule": rule, "decision": decision})
        if decision == "shadow_refused":
            self.shadow_refusals.record(1.0, {"rule": rule})

    def tokens(self, rule: str, reserved: int = 0, committed: int = 0) -> None:
        if reserved:
            self.reserved.record(float(reserved), {"rule": rule})
        if committed:
            self.committed.record(float(committed), {"rule": rule})

    def remaining(self, rule: str, quota: str, key: str, value: int) -> None:
        """Called when a lease is refilled (not per request): keeps the TOP_KEYS keys with
        the least left per rule and quota."""
        with self._lock:
            keys = self._lowest.setdefault((rule, quota), {})
            keys[key] = value
            if len(keys) > TOP_KEYS:
                del keys[max(keys, key=keys.__getitem__)]
            if key not in keys:
                return
        self.remaining_gauge.record(float(value), {"rule": rule, "quota": quota, "key": key})

    def queue_depth(self, backend: str, cls: str, depth: int) -> None:
        self.queue_gauge.record(float(depth), {"backend": backend, "class": cls})

    def shed(self, backend: str, cls: str, reason: str) -> None:
        self.shed_counter.record(1.0, {"backend": backend, "class": cls, "reason": reason})
