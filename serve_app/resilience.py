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
    running: IngressUserConfig,
    raw: dict[str, Any] | None,
    started: bool,
    metrics: RoutingMetrics | None = None,
) -> IngressUserConfig:
    """The new user_config, or, on a started replica, the running one when the new one is
    invalid (logged with pydantic's field paths, so the operator sees what to fix, and
    counted in `routing_policy_refused_total`)."""
    try:
        return IngressUserConfig.parse(raw)
    except ValidationError as exc:
        if not started:
            raise
        errors = exc.errors(include_url=False, include_input=False)
        logger.error("user_config refused, policy %s stays: %s", running.routing.version, errors)
        if metrics is not None:
            blocks = sorted({str(e["loc"][0]) for e in errors if e["loc"]}) or ["user_config"]
            tags = {
                "version": _version_of(raw),
                "block": ",".join(blocks),
                "policy_version": running.routing.version,
            }
            metrics.policy_refused.record(1, tags)
        return running


def _version_of(raw: dict[str, Any] | None) -> str:
    """The refused block's routing version as the operator wrote it (a label: bounded)."""
    routing = (raw or {}).get("routing")
    version = routing.get("version") if isinstance(routing, dict) else None
    return str(version)[:64] if version is not None else "default"
