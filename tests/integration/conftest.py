"""Serve tier: one real Ray Serve instance for the whole test session (DESIGN.md tiers).

Two apps are deployed side by side: `aigw` at `/` with Auth and the PromptAssembler in the
ingress replica (the default), and `aigw_split` at `/split` with both as their own deployments.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bench.isolation import free_port, init_ray, isolated_serve_env
from serve_app.serve_env import export_serve_env
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.payloads import v2_body

DEPLOY_TIMEOUT_S = 180.0
TEST_SETTINGS: dict[str, Any] = {
    "mock_model_responses": True,
    "auth": {"bypass_external_with_header": True},
    "fastapi": {"docs_url": "/docs", "openapi_url": "/openapi.json"},
}
BYPASS = {"Bypass-Auth": "true"}


def deploy(app: Any, name: str, route_prefix: str, timeout_s: float = DEPLOY_TIMEOUT_S) -> None:
    """serve.run with a deadline: a graph that cannot be placed fails the test, not hangs it."""
    from ray import serve

    serve._run(app, name=name, route_prefix=route_prefix, _blocking=False)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = serve.status().applications.get(name)
        if status is not None and status.status == "RUNNING":
            return
        if status is not None and status.status == "DEPLOY_FAILED":
            raise RuntimeError(f"{name} failed to deploy: {status.message}")
        time.sleep(0.25)
    raise TimeoutError(f"{name} was not RUNNING after {timeout_s}s")


@pytest.fixture(scope="session")
def serve_instance() -> Iterator[str]:
    export_serve_env(isolated_serve_env())
    import ray
    from ray import serve

    port = free_port()
    init_ray(num_cpus=2)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()


def wait_ready(base_url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/monitoring/ready", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{base_url} never became ready")


@pytest.fixture(scope="session")
def gateway_url(serve_instance: str) -> str:
    from serve_app.app import build_app

    deploy(build_app({"settings": TEST_SETTINGS}), "aigw", "/")
    wait_ready(serve_instance)
    return serve_instance


@pytest.fixture(scope="session")
def split_gateway_url(serve_instance: str, gateway_url: str) -> str:
    from serve_app.app import build_app

    args = {
        "auth": "deployment",
        "prompt_assembler": "deployment",
        "providers_in_ingress": [],  # the mock as its own deployment too
        "settings": TEST_SETTINGS,
    }
    deploy(build_app(args), "aigw_split", "/split")
    url = f"{serve_instance}/split"
    wait_ready(url)
    return url


@pytest.fixture
def http(gateway_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway_url, headers=BYPASS, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeOpenAI, FakeAnthropic]]:
    """The OpenAI-compatible and Anthropic fakes, for the modules whose apps call them."""
    openai_fake, anthropic_fake = FakeOpenAI().serve(), FakeAnthropic().serve()
    yield openai_fake, anthropic_fake
    openai_fake.close()
    anthropic_fake.close()


# For modules whose fakes fail on purpose test after test: no breaker opens and no retry
# budget runs out across tests, so each test sees the default attempts (the breaker and the
# budget have their own tests: test_routing_serve.py, tests/unit/resilience).
FAULT_TEST_ROUTING: dict[str, Any] = {
    "version": "fault-tests",
    "retry": {"budget_floor": 1000},
    "breaker": {"consecutive_failures": 1000, "min_requests": 1000},
}


def with_user_config(app: Any, user_config: dict[str, Any]) -> Any:
    """The app with its Ingress deployment's `user_config` set, as serve_config.yaml sets it."""
    from ray.serve.deployment import Application

    return Application(app._bound_deployment.options(user_config=user_config))


def provider_gateway(
    serve_instance: str,
    anthropic: FakeAnthropic,
    name: str,
    timeouts: dict[str, float],
    routing: dict[str, Any] | None = None,
) -> Iterator[httpx.Client]:
    """A gateway app at `/<name>` whose Anthropic backend talks to the fake and whose
    self-hosted (OpenAI-compatible) endpoints are allowed; a client with the bypass header.
    `routing`: the Ingress's routing policy (user_config), else the defaults."""
    from serve_app.app import build_app

    settings: dict[str, Any] = {
        "auth": {"bypass_external_with_header": True},
        "custom_models": {"enabled": True},
        "anthropic_api_key": "sk-ant-server",
        "anthropic_base_url": anthropic.url,
        "model_timeouts": timeouts,
    }
    app = build_app({"settings": settings})
    if routing is not None:
        app = with_user_config(app, {"routing": routing})
    deploy(app, f"aigw_{name}", f"/{name}")
    url = f"{serve_instance}/{name}"
    wait_ready(url)
    with httpx.Client(base_url=url, headers=BYPASS, timeout=30) as client:
        yield client


@pytest.fixture
def openai_fake(fakes: tuple[FakeOpenAI, FakeAnthropic]) -> FakeOpenAI:
    fakes[0].reset()
    return fakes[0]


@pytest.fixture
def anthropic_fake(fakes: tuple[FakeOpenAI, FakeAnthropic]) -> FakeAnthropic:
    fakes[1].reset()
    return fakes[1]


SESSION_APPS = frozenset({"aigw", "aigw_split"})


@pytest.fixture(scope="module", autouse=True)
def _free_module_apps() -> Iterator[None]:
    """Delete the apps a test module deployed once it is done: the session Ray has 2 CPUs and
    every app's replicas hold a fraction of them until deleted."""
    yield
    import ray

    if not ray.is_initialized():
        return
    from ray import serve

    for name in list(serve.status().applications):
        if name not in SESSION_APPS:
            serve.delete(name)


SELF_HOSTED_KEY = "sk-self-hosted-abcdef"


def litellm(fake: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    """A v2 body naming a self-hosted model (LiteLLM style, as GitLab Rails sends it) served
    by the OpenAI-compatible fake."""
    return v2_body(
        model_provider="litellm",
        model_name="codestral",
        model_endpoint=f"{fake.url}/v1",
        model_api_key=SELF_HOSTED_KEY,
        model_identifier="custom_openai/codestral-22b",
        **extra,
    )


def metrics_port() -> int:
    """Where Ray's metrics agent exports every replica's metrics (each under a `ray_` name)."""
    import ray

    port = ray.nodes()[0]["MetricsExportPort"]
    assert port, "Ray's metrics agent exports no port"
    return int(port)


def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    series: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series[sample.name].append((sample.labels, sample.value))
    return series
