"""`make bench`'s routing-policy row: the policy-off app is serve_config.yaml's gateway with
`routing: {enabled: false}` in its Ingress user_config (the rest as deployed), and the
summary line reads on minus off from the same run."""

from __future__ import annotations

import yaml

from bench import routing_serve
from bench.load import Cell
from bench.run import SERVE_CONFIG, gateway_app


def cell(target: str, concurrency: int, p50: float, cpu: float) -> Cell:
    return Cell(target, concurrency, 100, 1000.0, p50, p50, p50, p50, 0, cpu)


def test_policy_off_app_differs_from_the_gateway_only_in_its_routing_switch() -> None:
    config = yaml.safe_load(SERVE_CONFIG.read_text())
    on = gateway_app(config, "aigw", "/", {"mock_model_responses": True})
    off = routing_serve.policy_off(on)
    assert (off["name"], off["route_prefix"]) == ("aigw_norouting", "/norouting")
    (ingress,) = [d for d in off["deployments"] if d["name"] == "Ingress"]
    assert ingress["user_config"]["routing"]["enabled"] is False
    assert "user_config" not in next(d for d in on["deployments"] if d["name"] == "Ingress")
    assert off["args"] == on["args"]


def test_summary_is_on_minus_off_per_concurrency() -> None:
    on, off = routing_serve.ON, routing_serve.OFF
    cells = [cell(on, 1, 2.0, 1.20), cell(off, 1, 1.9, 1.18), cell(on, 1, 2.2, 1.22)]
    (line,) = routing_serve.summary(cells)
    assert line.startswith("routing policy on vs off, c=1: p50 2.10 vs 1.90 ms (+0.20)")
    assert "CPU/request 1.210 vs 1.180 ms (+0.030; target <= +0.05)" in line
