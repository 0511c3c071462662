"""A `routing:` block that a running Ingress replica refuses shows in the metrics, since Serve
2.60 reports that deploy as a success: `routing_policy_refused_total` counts it and
`routing_policy_active` still names the running version. The replica's own `reconfigure`,
over plain pieces (no Ray, no model: building a whole Ingress loads the embedded model)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from observability.metrics import MemoryMetrics
from routing.admission import Admission, InProcessStore
from routing.resilience.engine import Resilience
from routing.resilience.metrics import RoutingMetrics
from serve_app.ingress import Ingress
from serve_app.user_config import IngressUserConfig


def replica() -> tuple[Any, MemoryMetrics]:
    metrics = MemoryMetrics()
    gateway = SimpleNamespace(
        resilience=Resilience(metrics=RoutingMetrics(metrics)),
        admission=Admission(InProcessStore()),
    )
    return SimpleNamespace(gateway=gateway, user_config=IngressUserConfig(), _configured=False), (
        metrics
    )


def active(metrics: MemoryMetrics) -> dict[str, float]:
    return {
        dict(tags)["policy_version"]: value
        for (name, tags), value in metrics.values.items()
        if name == "routing_policy_active"
    }


def test_a_refused_block_is_counted_and_the_running_version_stays_active() -> None:
    ingress, metrics = replica()
    Ingress.reconfigure(ingress, {"routing": {"version": "v1"}})
    assert active(metrics) == {"default": 0, "v1": 1}

    bad = {"routing": {"version": "v2", "retry": {"attempts_per_target": 0}}}
    Ingress.reconfigure(ingress, bad)
    refused = metrics.total("routing_policy_refused_total", version="v2", block="routing")
    assert refused == 1
    assert metrics.total("routing_policy_refused_total", policy_version="v1") == 1
    assert active(metrics) == {"default": 0, "v1": 1}
    assert ingress.gateway.resilience.policy.version == "v1"

    Ingress.reconfigure(ingress, {"routing": {"version": "v1"}, "limits": [{"rpm": "x"}]})
    assert metrics.total("routing_policy_refused_total", block="limits") == 1

    Ingress.reconfigure(ingress, {"routing": {"version": "v3"}})
    assert active(metrics) == {"default": 0, "v1": 0, "v3": 1}
    assert metrics.total("routing_policy_refused_total") == 2


def test_an_invalid_block_at_start_still_fails_the_replica() -> None:
    ingress, metrics = replica()
    with pytest.raises(ValidationError):
        Ingress.reconfigure(ingress, {"routing": {"retires": {}}})
    assert metrics.total("routing_policy_refused_total") == 0
