"""The Ingress replica's routing policy engine, wired to Ray: metrics through the replica's
metric factory, breaker states shared through the app's hub actor (routing/resilience/shared)."""

from __future__ import annotations

import logging

from observability.telemetry import Telemetry
from routing.resilience.engine import Resilience
from routing.resilience.metrics import RoutingMetrics
from routing.resilience.shared import SharedBreakers, connect_hub

logger = logging.getLogger("aigw.routing")


def resilience_of(telemetry: Telemetry) -> Resilience:
    """The engine of this replica; its breakers are shared when it runs as a Serve replica."""
    engine = Resilience(metrics=RoutingMetrics(telemetry.metrics.factory))
    try:
        from ray import serve

        context = serve.get_replica_context()
    except Exception:  # not under Serve (tests, tools): breakers stay per process
        return engine
    name = f"aigw-breakers-{context.app_name}"
    replica = context.replica_id.unique_id
    engine.shared = SharedBreakers(engine.breakers, replica, lambda: connect_hub(name))
    return engine
