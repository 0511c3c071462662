"""The routing policy's cost on the happy path, through Serve (issue 15): the gateway with the
policy on (the default) next to the same gateway with `routing: {enabled: false}` in its
Ingress user_config, measured in the same run, alternately, with the CPU each app's
replicas spent per request.

`make bench` deploys the policy-off app beside the others and adds its row (bench/run.py);
`python -m bench.routing_serve [--requests N]` measures only these two apps (a quick check).
"""

from __future__ import annotations

import argparse
import copy
import statistics
from typing import Any

from bench.load import Cell, require_tools, table
from tests.payloads import v2_body

ON = "gateway /v2/code/completions"  # bench/run.py's row: the policy on, as deployed
OFF = "gateway /v2, routing policy off"
OFF_APP, OFF_PREFIX = "aigw_norouting", "/norouting"


def policy_off(app: dict[str, Any]) -> dict[str, Any]:
    """The gateway application `app` (bench/run.py's `gateway_app`) with the routing policy
    off, at its own prefix."""
    off = copy.deepcopy(app)
    off.update(name=OFF_APP, route_prefix=OFF_PREFIX)
    for deployment in off["deployments"]:
        if deployment["name"] == "Ingress":
            config = deployment.setdefault("user_config", {})
            config["routing"] = {**config.get("routing", {}), "enabled": False}
    return off


def scenario(base: str) -> tuple[str, str, dict[str, Any], dict[str, str], str]:
    return (OFF, f"{base}{OFF_PREFIX}/v2/code/completions", v2_body(), {}, OFF_APP)


def summary(cells: list[Cell]) -> list[str]:
    """Per concurrency: p50 (median over the rounds) and CPU per request (mean), policy on
    and off, and on minus off."""
    groups: dict[tuple[str, int], list[Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.target, cell.concurrency), []).append(cell)
    lines = []
    for concurrency in sorted({c for _, c in groups}):
        on, off = groups.get((ON, concurrency)), groups.get((OFF, concurrency))
        if not on or not off:
            continue
        p50_on, p50_off = (statistics.median(c.p50_ms for c in g) for g in (on, off))
        cpu_on, cpu_off = (statistics.fmean(c.cpu_ms_per_request for c in g) for g in (on, off))
        lines.append(
            f"routing policy on vs off, c={concurrency}: p50 {p50_on:.2f} vs {p50_off:.2f} ms "
            f"({p50_on - p50_off:+.2f}); CPU/request {cpu_on:.3f} vs {cpu_off:.3f} ms "
            f"({cpu_on - cpu_off:+.3f}; target <= +0.05)"
        )
    return lines


def main() -> None:
    import yaml

    from bench import run as bench_run

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000, help="per cell")
    parser.add_argument("--rounds", type=int, default=2, help="on/off alternations per cell")
    args = parser.parse_args()
    require_tools()
    base = bench_run.start_serve()
    try:
        from ray.serve.schema import ServeDeploySchema

        config = yaml.safe_load(bench_run.SERVE_CONFIG.read_text())
        settings = {"mock_model_responses": True, "auth": {"bypass_external": True}}
        on_app = bench_run.gateway_app(config, "aigw", "/", settings)
        host, port = base.removeprefix("http://").split(":")
        bench_run._deploy(
            ServeDeploySchema.model_validate(
                {
                    "http_options": {"host": host, "port": int(port)},
                    "applications": [on_app, policy_off(on_app)],
                }
            )
        )
        bench_run._wait_ready(base, ("/monitoring/ready", f"{OFF_PREFIX}/monitoring/ready"))
        on = (ON, f"{base}/v2/code/completions", v2_body(), {}, "aigw")
        off = scenario(base)
        for s in (on, off):
            bench_run.measured(s, 8, args.requests // 2)  # warm-up, discarded
        cells: list[Cell] = []
        for concurrency in (1, 8):
            for _ in range(args.rounds):
                for s in (on, off):
                    cells.append(bench_run.measured(s, concurrency, args.requests))
    finally:
        from ray import serve

        serve.shutdown()
        import ray

        ray.shutdown()
    print(table(cells))
    for line in summary(cells):
        print(line)


if __name__ == "__main__":
    main()
