"""`make bench`: the gateway under load next to the floor, in one run on this machine.

Starts an embedded Ray Serve (HAProxy ingress, throughput-optimized, as `make run`), deploys
the gateway as serve_config.yaml declares it (placements, replicas, resources) in mock mode with
auth bypass at `/` (and with JWT auth at `/jwt`), the floor app at `/floor` and the FastAPI
floor at `/fastapi-floor` (bench/floor.py), then drives each at concurrency 1, 8 and 32 with a
fixed request count, driven by curl (C, libcurl multi).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench import admission, big_file, max_request, routing_serve
from bench.auth_setup import auth_setup
from bench.cpu import app_cpu_seconds
from bench.isolation import free_port, init_ray_as_aigw_run, isolated_serve_env
from bench.load import Cell, measure, require_tools, table
from bench.stage_timing import breakdown, format_summary
from serve_app.serve_env import export_serve_env
from tests.payloads import v2_body, v3_body

CONCURRENCY = (1, 8, 32)
REQUESTS = {1: 2000, 8: 4000, 32: 8000}
RESULTS = Path(".bench/results.json")
SERVE_CONFIG = Path("serve_config.yaml")
GATEWAY_IMPORT_PATH = "serve_app.app:build_app"
FLOOR_IMPORT_PATH = "bench.floor:build_floor"
FASTAPI_FLOOR_IMPORT_PATH = "bench.floor:build_fastapi_floor"
FLOOR = "floor (canned body)"
FASTAPI_FLOOR = "floor + FastAPI route, our v2 model"
FASTAPI_FLOOR_PATH = "/fastapi-floor/v2/code/completions"
GATEWAY_V2 = "gateway /v2/code/completions"
LIMITED_V2 = "gateway /v2 + 3 enforced limit rules"
# Admission (issue 16): the gateway again with three rules every request passes (requests,
# tokens, concurrency; budgets far above what the bench sends), beside the one without.
LIMITS: list[dict[str, Any]] = [
    {"name": "rpm", "requests_per_minute": 10_000_000},
    {"name": "tpm", "tokens_per_minute": 10_000_000_000},
    {"name": "conc", "max_concurrent": 1_000_000, "key": "instance"},
]


def start_serve() -> str:
    export_serve_env(isolated_serve_env())
    from ray import serve

    port = free_port()
    init_ray_as_aigw_run(log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    return f"http://127.0.0.1:{port}"


def gateway_app(config: dict[str, Any], name: str, prefix: str, settings: dict[str, Any]) -> Any:
    """serve_config.yaml's gateway application (args, replicas, resources: what `make run`
    deploys), renamed, with `settings` over its own."""
    from serve_app.app import built_deployments

    app = copy.deepcopy(
        next(a for a in config["applications"] if a["import_path"] == GATEWAY_IMPORT_PATH)
    )
    args = app.setdefault("args", {})
    args["settings"] = {**args.get("settings", {}), **settings}
    built = built_deployments(args)
    app.update(name=name, route_prefix=prefix)
    app["deployments"] = [d for d in app.get("deployments", []) if d["name"] in built]
    return app


def with_limits(app: dict[str, Any]) -> dict[str, Any]:
    """`app` with LIMITS in its Ingress deployment's user_config (as serve_config.yaml sets
    it), which declares that deployment if serve_config.yaml did not."""
    ingress = next((d for d in app["deployments"] if d["name"] == "Ingress"), None)
    if ingress is None:
        ingress = {"name": "Ingress"}
        app["deployments"].append(ingress)
    ingress["user_config"] = {**ingress.get("user_config", {}), "limits": LIMITS}
    return app


def deploy_all(base: str, auth_overrides: dict[str, Any]) -> None:
    """The gateway as serve_config.yaml declares it, in mock mode with auth bypassed at `/`
    and with JWT auth at `/jwt`, and the floor at `/floor`, in one declarative deploy."""
    from ray.serve.schema import ServeDeploySchema

    config = yaml.safe_load(SERVE_CONFIG.read_text())
    mock = {"mock_model_responses": True}
    bypass = {"auth": {"bypass_external": True}}
    host, port = base.removeprefix("http://").split(":")
    schema = ServeDeploySchema.model_validate(
        {
            "http_options": {"host": host, "port": int(port)},
            "applications": [
                gateway_app(config, "aigw", "/", {**mock, **bypass}),
                routing_serve.policy_off(gateway_app(config, "aigw", "/", {**mock, **bypass})),
                gateway_app(config, "aigw_jwt", "/jwt", {**mock, **auth_overrides}),
                with_limits(
                    gateway_app(config, "aigw_limits", "/limits", {**mock, **bypass}),
                ),
                {"name": "floor", "route_prefix": "/floor", "import_path": FLOOR_IMPORT_PATH},
                {
                    "name": "fastapi_floor",
                    "route_prefix": "/fastapi-floor",
                    "import_path": FASTAPI_FLOOR_IMPORT_PATH,
                },
            ],
        }
    )
    _deploy(schema)
    ready = ("/monitoring/ready", "/jwt/monitoring/ready", "/limits/monitoring/ready")
    off_ready = f"{routing_serve.OFF_PREFIX}/monitoring/ready"
    _wait_ready(base, (*ready, off_ready, "/floor", FASTAPI_FLOOR_PATH))


def deploy_gateway_only(base: str) -> None:
    """The gateway alone at `/`, mock mode, auth bypassed (`python -m bench.max_request`)."""
    from ray.serve.schema import ServeDeploySchema

    config = yaml.safe_load(SERVE_CONFIG.read_text())
    host, port = base.removeprefix("http://").split(":")
    settings = {"mock_model_responses": True, "auth": {"bypass_external": True}}
    schema = ServeDeploySchema.model_validate(
        {
            "http_options": {"host": host, "port": int(port)},
            "applications": [gateway_app(config, "aigw", "/", settings)],
        }
    )
    _deploy(schema)
    _wait_ready(base, ("/monitoring/ready",))


def _deploy(schema: Any) -> None:
    from ray.serve.context import _get_global_client

    client = _get_global_client()
    assert client is not None, "serve.start() runs first"
    client.deploy_apps(schema, _blocking=False)


def _wait_ready(base: str, paths: tuple[str, ...]) -> None:
    for path in paths:
        deadline = time.monotonic() + 120
        while True:
            try:
                body = v2_body() if path == FASTAPI_FLOOR_PATH else None
                if (
                    httpx.request(
                        "GET" if body is None else "POST", base + path, json=body, timeout=5
                    ).status_code
                    == 200
                ):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{path} never answered 200")
            time.sleep(0.5)


# name, URL, body, headers, and the Serve application that answers
Scenario = tuple[str, str, dict[str, Any] | None, dict[str, str], str]


def scenarios(base: str, jwt_headers: dict[str, str]) -> list[Scenario]:
    return [
        (FLOOR, f"{base}/floor", None, {}, "floor"),
        (FASTAPI_FLOOR, base + FASTAPI_FLOOR_PATH, v2_body(), {}, "fastapi_floor"),
        (GATEWAY_V2, f"{base}/v2/code/completions", v2_body(), {}, "aigw"),
        (LIMITED_V2, f"{base}/limits/v2/code/completions", v2_body(), {}, "aigw_limits"),
        routing_serve.scenario(base),
        (
            "gateway /v2 + JWT auth (valid token)",
            f"{base}/jwt/v2/code/completions",
            v2_body(),
            jwt_headers,
            "aigw_jwt",
        ),
        (
            "gateway /v4 SSE stream",
            f"{base}/v4/code/suggestions",
            v3_body(stream=True),
            {},
            "aigw",
        ),
    ]


def measured(scenario: Scenario, concurrency: int, total: int) -> Cell:
    """One cell, with the CPU the answering app's processes (and HAProxy) spent on it."""
    name, url, body, headers, app = scenario
    before = app_cpu_seconds(app)
    cell = measure(name, url, body, concurrency, total, headers)
    if cell.requests:
        cell.cpu_ms_per_request = 1000 * (app_cpu_seconds(app) - before) / cell.requests
    return cell


def run(
    quick: bool,
) -> tuple[list[Cell], list[Cell], dict[str, dict[str, float]], max_request.MaxRequestResult]:
    require_tools()
    base = start_serve()
    auth_overrides, jwt_headers = auth_setup()
    try:
        deploy_all(base, auth_overrides)
        cells: list[Cell] = []
        for scenario in scenarios(base, jwt_headers):
            measured(scenario, 8, 500 if quick else 2000)  # warm-up, discarded
        for concurrency in CONCURRENCY:
            total = REQUESTS[concurrency] // (4 if quick else 1)
            for scenario in scenarios(base, jwt_headers):
                cells.append(measured(scenario, concurrency, total))
        stages = breakdown(base, body=v2_body(), requests=400, concurrency=8, headers={})
        big = big_file.cells(base, quick)
        return cells, big, stages, max_request.run(base, quick=quick)
    finally:
        from ray import serve

        serve.shutdown()
        import ray

        ray.shutdown()


def ratios(cells: list[Cell]) -> list[str]:
    by = {(c.target, c.concurrency): c for c in cells}
    lines = []
    for name in {c.target for c in cells} - {FLOOR}:
        f1, g1 = by[(FLOOR, 1)], by[(name, 1)]
        f32, g32 = by[(FLOOR, 32)], by[(name, 32)]
        over = f"c=1 p50 +{g1.p50_ms - f1.p50_ms:.2f} ms over the floor"
        ratio = f"c=32 RPS {g32.rps / f32.rps:.2f}x the floor's"
        if name == FASTAPI_FLOOR:
            lines.append(f"(reference) {name}: {over}; {ratio}")
        else:
            lines.append(f"{name}: {over} (target <= +1 ms); {ratio} (target >= 0.5x)")
    return sorted(lines)


def admission_cost(cells: list[Cell]) -> list[str]:
    """What the three rules add to a request, cell by cell of the same run (issue 16's target:
    at most 0.05 ms of CPU)."""
    by = {(c.target, c.concurrency): c for c in cells}
    lines = []
    for c in CONCURRENCY:
        plain, limited = by.get((GATEWAY_V2, c)), by.get((LIMITED_V2, c))
        if plain is None or limited is None:
            continue
        cpu = limited.cpu_ms_per_request - plain.cpu_ms_per_request
        lines.append(
            f"c={c}: CPU {cpu:+.3f} ms/request, p50 {limited.p50_ms - plain.p50_ms:+.2f} ms"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a quarter of the requests")
    args = parser.parse_args()
    cells, big, stages, max_size = run(args.quick)
    print()
    print(table(cells))
    print()
    print("A real-sized file: 20,000 characters of Python to tokenize (bench/big_file.py):")
    print(table(big))
    print()
    print("The largest body the contract allows (bench/max_request.py):")
    print(max_request.report(max_size))
    print()
    print("Where the gateway's time goes (X-Gateway-Timing, /v2/code/completions, c=8, ms):")
    print(format_summary(stages))
    print()
    for line in ratios(cells):
        print(line)
    for line in routing_serve.summary(cells):
        print(line)
    print()
    print(f"Admission: {LIMITED_V2} against the same gateway without (target <= +0.05 ms CPU):")
    for line in admission_cost(cells):
        print(line)
    print()
    print("Admission in-process (python -m bench.admission: no Serve, no HTTP):")
    asyncio.run(admission.main())
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps([asdict(c) for c in cells + big], indent=2))
    print(f"\nraw numbers: {RESULTS}")


if __name__ == "__main__":
    main()
