"""The Ingress replica's routing policy engine, wired to Ray: metrics through the replica's
metric factory, breaker states shared through the app's hub actor (routing/resilience/shared)."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from observability.telemetry import Telemetry
from routing.resilience.engine import Resilience
from routing.resilience.metrics import RoutingMetrics
from routing.resilience.shared import SharedBreakers, connect_hub
from serve_app.user_config import IngressUserConfig

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


def refused_or_parsed(
    running: IngressUserConfig, raw: dict[str, Any] | None, started: bool
) -> IngressUserConfig:
    """The new user_config, or, on a started replica, the running one when the new one is
    invalid (logged with pydantic's field paths, so the operator sees what to fix)."""
    try:
        return IngressUserConfig.parse(raw)
    except ValidationError as exc:
        if not started:
            raise
        logger.error(
            "user_config refused, policy %s stays: %s",
            running.routing.version,
            exc.errors(include_url=False, include_input=False),
        )
        return running
