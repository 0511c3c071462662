"""`aigw run` starts two Ingress replicas where the CPUs allow, one where they do not."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from serve_app.replicas import fit_ingress_replicas, min_replicas

ROOT = Path(__file__).resolve().parents[2]


def shipped() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    return config


def ingress(config: dict[str, Any]) -> dict[str, Any]:
    deployments = config["applications"][0]["deployments"]
    entry: dict[str, Any] = next(d for d in deployments if d["name"] == "Ingress")
    return entry


def test_serve_config_ships_two_ingress_replicas() -> None:
    assert min_replicas(ingress(shipped())) == 2


def test_two_replicas_stay_on_a_two_core_machine() -> None:
    config = shipped()
    assert fit_ingress_replicas(config, 2) is None
    assert config == shipped()


def test_one_replica_when_two_do_not_fit() -> None:
    config = shipped()
    ingress(config)["ray_actor_options"] = {"num_cpus": 1}
    before = copy.deepcopy(config)
    note = fit_ingress_replicas(config, 2)  # 2 x 1 + the LocalBackend's 0.25 > 2
    assert note is not None and "one Ingress replica" in note
    assert min_replicas(ingress(config)) == 1
    assert ingress(config)["autoscaling_config"]["max_replicas"] == 4
    ingress(before)["autoscaling_config"]["min_replicas"] = 1
    assert config == before  # nothing else changed


def test_fixed_replica_counts_are_lowered_too() -> None:
    config = {
        "applications": [
            {"deployments": [{"name": "Ingress", "num_replicas": 2, "ray_actor_options": {}}]}
        ]
    }
    # Without num_cpus, the Ingress default (deployments/defaults.py: 0.1) counts.
    assert fit_ingress_replicas(config, 0.15) is not None
    assert config["applications"][0]["deployments"][0]["num_replicas"] == 1
