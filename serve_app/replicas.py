"""How many Ingress replicas `aigw run` starts: what serve_config.yaml asks for (two), where
the machine has the CPUs for them.

With one Ingress replica, its death is an outage until Serve notices and starts another
(~11 s measured); with two, HAProxy sends every request the dead one had not started to the
other (issue 14 item 2). The rule: the CPUs Ray reserves for the deployments the config lists,
each at its minimum replica count, must fit the CPUs Ray has (`--num-cpus`, else the
machine's). When they do not, the Ingress minimum drops to one replica rather than leaving a
replica Ray can never place (the app would never reach RUNNING).
"""

from __future__ import annotations

import os
from typing import Any

from deployments.defaults import DEFAULT_OPTIONS

INGRESS = "Ingress"


def min_replicas(deployment: dict[str, Any]) -> int:
    autoscaling = deployment.get("autoscaling_config")
    if autoscaling:
        return int(autoscaling.get("min_replicas", 1))
    replicas = deployment.get("num_replicas", 1)
    return 1 if replicas == "auto" else int(replicas)


def reserved_cpus(deployment: dict[str, Any]) -> float:
    """CPUs Ray holds for `deployment` at its minimum replica count."""
    defaults = DEFAULT_OPTIONS.get(deployment.get("name", ""), {}).get("ray_actor_options", {})
    actor = {**defaults, **(deployment.get("ray_actor_options") or {})}
    return float(actor.get("num_cpus", 1)) * min_replicas(deployment)


def machine_cpus() -> int:
    return len(os.sched_getaffinity(0))


def fit_ingress_replicas(config: dict[str, Any], cpus: float) -> str | None:
    """Lower every app's Ingress minimum to one replica when the listed deployments do not
    fit `cpus` (in place). Returns a line for the operator when it did, else None."""
    deployments = [d for app in config.get("applications", []) for d in app.get("deployments", [])]
    needed = sum(reserved_cpus(d) for d in deployments)
    if needed <= cpus:
        return None
    lowered = False
    for deployment in deployments:
        if deployment.get("name") != INGRESS or min_replicas(deployment) <= 1:
            continue
        if deployment.get("autoscaling_config"):
            deployment["autoscaling_config"]["min_replicas"] = 1
            deployment["autoscaling_config"].pop("initial_replicas", None)
        else:
            deployment["num_replicas"] = 1
        lowered = True
    if not lowered:
        return None
    return (
        f"one Ingress replica: the deployments need {needed:g} CPUs at their minimum replica "
        f"counts and Ray has {cpus:g} (--num-cpus); a dead replica is an outage until "
        "Serve replaces it"
    )
