"""CPU per request of one commit's gateway next to the floors, in a few minutes: for A/B runs of
two checkouts back to back (this machine's speed drifts by 2x within an hour, so only runs
minutes apart compare).

    PYTHONPATH=$PWD .venv/bin/python -m bench.cpu_ab LABEL

Deploys, in one embedded Serve: the floor, the FastAPI floor, the gateway as serve_config.yaml
declares it (mock mode, auth bypassed), the same with the tree-sitter post-processing steps
switched off, and a gateway whose completions go to `bench/fake_openai.py` through the
OpenAI-compatible backend. Each at c=1 (600 requests) and c=32 (2,400), CPU of the answering
app's replicas + HAProxy + Serve's proxy actors per request (bench.cpu), printed one line per cell.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import httpx
import yaml

from bench.run import (
    FASTAPI_FLOOR_IMPORT_PATH,
    FLOOR_IMPORT_PATH,
    SERVE_CONFIG,
    Scenario,
    gateway_app,
    measured,
    start_serve,
)
from bench.upstream import upstream_targets
from tests.payloads import v2_body, v3_body

SYNTAX_STEPS = [
    "remove_comment_only_completion",
    "trim_by_min_allowed_context",
    "fix_end_block_errors",
    "fix_end_block_errors_legacy",
]
CELLS = ((1, 600), (32, 2400))


def _deploy(base: str, upstream_settings: dict[str, Any]) -> None:
    from ray.serve.context import _get_global_client
    from ray.serve.schema import ServeDeploySchema

    config = yaml.safe_load(SERVE_CONFIG.read_text())
    host, port = base.removeprefix("http://").split(":")
    plain = {"mock_model_responses": True, "auth": {"bypass_external": True}}
    no_syntax = {**plain, "feature_flags": {"excl_post_process": SYNTAX_STEPS}}
    schema = ServeDeploySchema.model_validate(
        {
            "http_options": {"host": host, "port": int(port)},
            "applications": [
                gateway_app(config, "aigw", "/", plain),
                gateway_app(config, "aigw_nosyn", "/nosyn", no_syntax),
                gateway_app(config, "aigw_up", "/up", upstream_settings),
                {"name": "floor", "route_prefix": "/floor", "import_path": FLOOR_IMPORT_PATH},
                {
                    "name": "fastapi_floor",
                    "route_prefix": "/fastapi-floor",
                    "import_path": FASTAPI_FLOOR_IMPORT_PATH,
                },
            ],
        }
    )
    client = _get_global_client()
    assert client is not None
    client.deploy_apps(schema, _blocking=False)


def _wait(base: str, path: str, body: dict[str, Any] | None) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            r = httpx.request("POST" if body else "GET", base + path, json=body, timeout=5)
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{path} never answered 200")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("label", help="printed before every line (e.g. the commit)")
    label = parser.parse_args().label
    with upstream_targets(litellm_workers=()) as up:
        base = start_serve()
        try:
            _deploy(base, {**up.gateway_settings, "auth": {"bypass_external": True}})
            fastapi_path = "/fastapi-floor/v2/code/completions"
            for path in ("/monitoring/ready", "/nosyn/monitoring/ready", "/up/monitoring/ready"):
                _wait(base, path, None)
            _wait(base, "/floor", None)
            _wait(base, fastapi_path, v2_body())
            scenarios: list[Scenario] = [
                ("floor", f"{base}/floor", None, {}, "floor"),
                ("fastapi_floor", base + fastapi_path, v2_body(), {}, "fastapi_floor"),
                ("v2", f"{base}/v2/code/completions", v2_body(), {}, "aigw"),
                ("v2_no_syntax", f"{base}/nosyn/v2/code/completions", v2_body(), {}, "aigw_nosyn"),
                ("v4_sse", f"{base}/v4/code/suggestions", v3_body(stream=True), {}, "aigw"),
                ("v2_openai_up", f"{base}/up/v2/code/completions", up.gateway_body, {}, "aigw_up"),
            ]
            for scenario in scenarios:
                measured(scenario, 8, 300)  # warm-up, discarded
            for concurrency, total in CELLS:
                for scenario in scenarios:
                    cell = measured(scenario, concurrency, total)
                    print(
                        f"{label} {scenario[0]:14s} c={concurrency:<2d} "
                        f"cpu_ms={cell.cpu_ms_per_request:.3f} rps={cell.rps:.0f} "
                        f"p50_ms={cell.p50_ms:.2f} p99_ms={cell.p99_ms:.2f}",
                        flush=True,
                    )
        finally:
            from ray import serve

            serve.shutdown()
            import ray

            ray.shutdown()


if __name__ == "__main__":
    main()
