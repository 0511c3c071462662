"""The upstream path of `make bench`: gateway -> OpenAICompatBackend -> a zero-latency fake
OpenAI server, next to the same load sent to the fake directly (the floor) and through the
LiteLLM proxy (the comparison point).

    with upstream_targets() as up:       # starts the fake and LiteLLM, stops them after
        up.fake_url, up.litellm_urls      # base URLs (loopback)
        up.gateway_settings               # build_app({"settings": ...}) overrides
        up.gateway_body                   # POST /v2/code/completions body routed to the fake

`python -m bench.upstream` runs the whole comparison with wrk at c=1, 8, 32 and prints the table.
LiteLLM lives in its own environment (`.venv-bench`, the `bench` extra): its pins conflict
with the gateway's. Its `--num_workers 2` children die at start here (1.108.7, no error
printed), so one worker is the default.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.isolation import free_port
from core.edge_settings import child_env

ROOT = Path(__file__).resolve().parent.parent
BENCH_VENV = ROOT / ".venv-bench"
UV = ROOT / ".cache/uv-tool/bin/uv"
MODEL = "bench-model"
CONCURRENCY = (1, 8, 32)

COMPLETION_BODY = {"model": MODEL, "prompt": "def add(a, b):\n    ", "max_tokens": 16}


@dataclass
class Upstream:
    fake_url: str
    litellm_urls: dict[int, str] = field(default_factory=dict)  # workers -> base URL

    @property
    def gateway_settings(self) -> dict[str, Any]:
        """Settings under which the gateway serves self-hosted models (per request)."""
        return {
            "mock_model_responses": False,
            "custom_models": {"enabled": True},
            "auth": {"bypass_external": True},
        }

    @property
    def gateway_body(self) -> dict[str, Any]:
        """A v2 completion whose model is the fake, through the OpenAI-compatible backend."""
        return {
            "prompt_version": 1,
            "current_file": {
                "file_name": "add.py",
                "content_above_cursor": "def add(a, b):\n    ",
                "content_below_cursor": "",
            },
            "model_provider": "litellm",
            "model_name": "codestral",
            "model_endpoint": f"{self.fake_url}/v1",
            "model_identifier": f"custom_openai/{MODEL}",
        }


def _wait_http(
    url: str, timeout_s: float = 90.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not come up in {timeout_s}s")


def ensure_bench_venv() -> Path:
    """`.venv-bench` with the `bench` extra (LiteLLM proxy); created on first use."""
    litellm = BENCH_VENV / "bin/litellm"
    if not litellm.exists():
        env = child_env({"UV_PROJECT_ENVIRONMENT": str(BENCH_VENV)})
        subprocess.run(
            [str(UV), "sync", "--frozen", "--extra", "bench", "--python", sys.executable],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=900,
        )
    return litellm


def _litellm_config(fake_url: str, directory: str) -> str:
    path = os.path.join(directory, "litellm.yaml")
    config = {
        "model_list": [
            {
                "model_name": MODEL,
                "litellm_params": {
                    "model": f"text-completion-openai/{MODEL}",
                    "api_base": f"{fake_url}/v1",
                    "api_key": "bench",
                },
            }
        ],
        "litellm_settings": {"drop_params": True, "set_verbose": False},
        # No auth on either side: the gateway runs with its auth bypass in this comparison.
        "general_settings": {
            "disable_spend_logs": True,
            "dangerously_permit_weak_or_unset_master_key": True,
        },
    }
    with open(path, "w") as f:
        json.dump(config, f)  # YAML is a superset of JSON
    return path


@contextlib.contextmanager
def upstream_targets(litellm_workers: tuple[int, ...] = (1,)) -> Iterator[Upstream]:
    """Start the fake (and LiteLLM with each worker count); stop everything on exit."""
    procs: list[subprocess.Popen[bytes]] = []
    directory = tempfile.mkdtemp(prefix="aigw-bench-")
    try:
        port = free_port()
        fake = subprocess.Popen(
            [sys.executable, "-m", "bench.fake_openai", "--port", str(port)],
            cwd=ROOT,
            start_new_session=True,
        )
        procs.append(fake)
        upstream = Upstream(fake_url=f"http://127.0.0.1:{port}")
        _wait_http(f"{upstream.fake_url}/v1/models", proc=fake)
        if litellm_workers:
            litellm = ensure_bench_venv()
            config = _litellm_config(upstream.fake_url, directory)
            for workers in litellm_workers:
                lport = free_port()
                env = child_env(
                    {
                        "LITELLM_LOG": "ERROR",
                        "LITELLM_MODE": "PRODUCTION",
                        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no network fetch at start
                    }
                )
                proc = subprocess.Popen(
                    [
                        str(litellm),
                        "--config",
                        config,
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(lport),
                        "--num_workers",
                        str(workers),
                    ],
                    cwd=directory,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
                procs.append(proc)
                url = f"http://127.0.0.1:{lport}"
                _wait_http(f"{url}/health/liveliness", timeout_s=180, proc=proc)
                upstream.litellm_urls[workers] = url
        yield upstream
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(directory, ignore_errors=True)


# -- measuring ------------------------------------------------------------------------------
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = {body}
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %.3f %.3f %.3f\\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1e6)))
end
"""


@dataclass
class Row:
    target: str
    concurrency: int
    p50_ms: float
    p99_ms: float
    rps: float
    errors: int


def wrk(
    url: str, body: dict[str, Any], concurrency: int, seconds: int = 10
) -> tuple[float, float, float, int]:
    """p50 ms, p99 ms, RPS and error count of a wrk run posting `body` to `url`."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA.format(body=json.dumps(json.dumps(body))))
    try:
        threads = min(concurrency, 2)
        out = subprocess.run(
            [
                "wrk",
                "-t",
                str(threads),
                "-c",
                str(concurrency),
                "-d",
                f"{seconds}s",
                "--timeout",
                "10s",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    match = re.search(r"RESULT (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"wrk output not understood:\n{out}")
    _, errors, p50, p99, rps = match.groups()
    return float(p50), float(p99), float(rps), int(errors)


def measure(targets: dict[str, tuple[str, dict[str, Any]]], seconds: int = 10) -> list[Row]:
    rows = []
    for name, (url, body) in targets.items():
        httpx.post(url, json=body, timeout=30).raise_for_status()  # warm and check it answers
        for c in CONCURRENCY:
            p50, p99, rps, errors = wrk(url, body, c, seconds)
            rows.append(Row(name, c, p50, p99, rps, errors))
            line = f"{name:<28} c={c:<3} p50={p50:8.2f} ms p99={p99:8.2f} ms {rps:9.0f} RPS"
            print(f"{line} errors={errors}", flush=True)
    return rows


def table(rows: list[Row]) -> str:
    lines = ["| target | c | p50 ms | p99 ms | RPS | errors |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {r.target} | {r.concurrency} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
        f"| {r.rps:.0f} | {r.errors} |"
        for r in rows
    ]
    return "\n".join(lines)


def run(seconds: int = 10, litellm_workers: tuple[int, ...] = (1,)) -> list[Row]:
    """Start everything (fake, LiteLLM, a Ray Serve gateway), measure, stop everything."""
    from bench.isolation import init_ray_as_aigw_run, isolated_serve_env
    from serve_app.serve_env import export_serve_env

    export_serve_env(isolated_serve_env())
    import ray
    from ray import serve

    from serve_app.app import build_app

    with upstream_targets(litellm_workers) as up:
        port = free_port()
        init_ray_as_aigw_run(num_cpus=2, namespace="bench")
        try:
            serve.start(http_options={"host": "127.0.0.1", "port": port})
            serve.run(build_app({"settings": up.gateway_settings}), name="aigw", route_prefix="/")
            colocated = {"settings": up.gateway_settings, "providers_in_ingress": ["openai_compat"]}
            serve.run(build_app(colocated), name="aigw_colocated", route_prefix="/colocated")
            gateway = f"http://127.0.0.1:{port}"
            _wait_http(f"{gateway}/monitoring/healthz")
            _wait_http(f"{gateway}/colocated/monitoring/healthz")
            targets = {"direct (fake OpenAI)": (f"{up.fake_url}/v1/completions", COMPLETION_BODY)}
            for workers, url in up.litellm_urls.items():
                targets[f"LiteLLM proxy ({workers} worker{'s' if workers > 1 else ''})"] = (
                    f"{url}/v1/completions",
                    COMPLETION_BODY,
                )
            targets["aigw /v2/code/completions"] = (
                f"{gateway}/v2/code/completions",
                up.gateway_body,
            )
            targets["aigw, backend in ingress"] = (
                f"{gateway}/colocated/v2/code/completions",
                up.gateway_body,
            )
            rows = measure(targets, seconds)
        finally:
            serve.shutdown()
            ray.shutdown()
    print(table(rows))
    return rows


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="gateway vs direct vs LiteLLM, c=1/8/32")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration of each cell")
    run(seconds=parser.parse_args().seconds)
