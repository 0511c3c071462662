"""`make bench`: the gateway under load next to the floor, in one run on this machine.

Starts an embedded Ray Serve (HAProxy ingress, throughput-optimized, as `make run`), deploys
the gateway in mock mode with auth bypass at `/` and the floor app at `/floor`, then drives
each at concurrency 1, 8 and 32 with a fixed request count, driven by curl (C, libcurl multi).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from bench.auth_setup import auth_setup
from bench.floor import build_floor
from bench.load import Cell, measure, require_tools, table
from serve_app.isolation import free_port, init_ray, isolated_serve_env
from serve_app.observability import timing
from serve_app.observability.bench import breakdown
from serve_app.settings import export_serve_env
from tests.payloads import v2_body, v3_body

CONCURRENCY = (1, 8, 32)
REQUESTS = {1: 2000, 8: 4000, 32: 8000}
RESULTS = Path(".bench/results.json")


def start_serve() -> str:
    export_serve_env(isolated_serve_env())
    from ray import serve

    port = free_port()
    init_ray(log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    return f"http://127.0.0.1:{port}"


def deploy_all(base: str, auth_overrides: dict[str, Any]) -> None:
    from ray import serve

    from serve_app.app import build_app

    settings = {"mock_model_responses": True, "auth": {"bypass_external": True}}
    serve.run(build_app({"settings": settings}), name="aigw", route_prefix="/")
    with_jwt = {"mock_model_responses": True, **auth_overrides}
    serve.run(build_app({"settings": with_jwt}), name="aigw_jwt", route_prefix="/jwt")
    serve.run(build_floor(), name="floor", route_prefix="/floor")
    for path in ("/monitoring/ready", "/jwt/monitoring/ready", "/floor"):
        deadline = time.monotonic() + 60
        while httpx.get(base + path, timeout=5).status_code != 200:
            if time.monotonic() > deadline:
                raise SystemExit(f"{path} never answered 200")
            time.sleep(0.5)


Scenario = tuple[str, str, dict[str, Any] | None, dict[str, str]]


def scenarios(base: str, jwt_headers: dict[str, str]) -> list[Scenario]:
    return [
        ("floor (canned body)", f"{base}/floor", None, {}),
        ("gateway /v2/code/completions", f"{base}/v2/code/completions", v2_body(), {}),
        (
            "gateway /v2 + JWT auth (valid token)",
            f"{base}/jwt/v2/code/completions",
            v2_body(),
            jwt_headers,
        ),
        ("gateway /v4 SSE stream", f"{base}/v4/code/suggestions", v3_body(stream=True), {}),
    ]


def run(quick: bool) -> tuple[list[Cell], dict[str, dict[str, float]]]:
    require_tools()
    base = start_serve()
    auth_overrides, jwt_headers = auth_setup()
    try:
        deploy_all(base, auth_overrides)
        cells: list[Cell] = []
        for name, url, body, headers in scenarios(base, jwt_headers):
            measure(name, url, body, 8, 500 if quick else 2000, headers)  # warm-up, discarded
        for concurrency in CONCURRENCY:
            total = REQUESTS[concurrency] // (4 if quick else 1)
            for name, url, body, headers in scenarios(base, jwt_headers):
                cells.append(measure(name, url, body, concurrency, total, headers))
        stages = breakdown(base, body=v2_body(), requests=400, concurrency=8, headers={})
        return cells, stages
    finally:
        from ray import serve

        serve.shutdown()
        import ray

        ray.shutdown()


def ratios(cells: list[Cell]) -> list[str]:
    by = {(c.target, c.concurrency): c for c in cells}
    lines = []
    floor = "floor (canned body)"
    for name in {c.target for c in cells} - {floor}:
        f1, g1 = by[(floor, 1)], by[(name, 1)]
        f32, g32 = by[(floor, 32)], by[(name, 32)]
        lines.append(
            f"{name}: c=1 p50 +{g1.p50_ms - f1.p50_ms:.2f} ms over the floor (target <= +1 ms); "
            f"c=32 RPS {g32.rps / f32.rps:.2f}x the floor's (target >= 0.5x)"
        )
    return sorted(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a quarter of the requests")
    args = parser.parse_args()
    cells, stages = run(args.quick)
    print()
    print(table(cells))
    print()
    print("Where the gateway's time goes (X-Gateway-Timing, /v2/code/completions, c=8, ms):")
    print(timing.format_summary(stages))
    print()
    for line in ratios(cells):
        print(line)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps([asdict(c) for c in cells], indent=2))
    print(f"\nraw numbers: {RESULTS}")


if __name__ == "__main__":
    main()
