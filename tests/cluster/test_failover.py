"""A two-node Ray cluster on this machine: the gateway's ingress on the head, the backend
pinned to a worker node by a custom resource; the worker stops under load and a new one joins.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bench.isolation import free_port, isolated_serve_env
from serve_app.serve_env import SERVE_ENV_DEFAULTS
from tests.cluster.local_cluster import LocalCluster, wait_for
from tests.payloads import v2_body

ROOT = Path(__file__).resolve().parents[2]
BYPASS = {"Bypass-Auth": "true"}
COMPLETIONS = "/v2/code/completions"  # answered by the MockBackend replica, on the worker
IN_INGRESS = "/v1/proxy/anthropic/v1/messages"  # in mock mode answered by the ingress itself
MESSAGES = {
    "model": "claude-sonnet-4-5-20250929",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "hi"}],
}
DUO_CHAT = {**BYPASS, "x-gitlab-unit-primitive": "duo_chat"}
HEAD = {"gateway_node": 1.0}
WORKER = {"backend_node": 1.0}
# A request whose backend is gone gets the contract's 503 once no replica took it for
# `model_timeouts.replica_wait_s` (10 s by default), not a hang; margin for a loaded machine.
FAIL_FAST_S = 10.0 + 5.0


def cluster_config(port: int) -> dict[str, Any]:
    """serve_config.yaml as an operator adapts it to a cluster (README, Operations): the
    ingress on the nodes with `gateway_node`, the backend on the nodes with `backend_node`."""
    config: dict[str, Any] = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    config["http_options"]["port"] = port
    app = config["applications"][0]
    # Mock mode needs no model or key; its backend as its own deployment, off the head.
    app["args"]["settings"] = {
        "mock_model_responses": True,
        "auth": {"bypass_external_with_header": True},
    }
    app["args"]["providers_in_ingress"] = []
    deployments = {d["name"]: d for d in app["deployments"]}
    deployments["Ingress"]["ray_actor_options"]["resources"] = {"gateway_node": 0.001}
    deployments["MockBackend"] = {
        "name": "MockBackend",
        "num_replicas": 1,
        "ray_actor_options": {"num_cpus": 0.05, "resources": {"backend_node": 0.001}},
    }
    app["deployments"] = list(deployments.values())
    return config


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    serve_env = isolated_serve_env()  # HAProxy ports and files of its own
    env = {
        **os.environ,
        **SERVE_ENV_DEFAULTS,
        **serve_env,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    # Token auth, as `ray start --head` enables it, with this cluster's own token (not the
    # user's ~/.ray/auth_token) in every node's environment and the driver's.
    token = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env.update(token)
    saved = {key: os.environ.get(key) for key in token}
    os.environ.update(token)
    local = LocalCluster(env)
    try:
        yield local
    finally:
        import ray

        ray.shutdown()
        local.shutdown()
        shutil.rmtree(local.root, ignore_errors=True)
        shutil.rmtree(serve_env["RAY_SERVE_HAPROXY_SERVER_STATE_BASE"], ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Sample:
    at: float
    path: str
    status: int  # 0: no HTTP answer
    seconds: float


class Load(threading.Thread):
    """Light steady traffic on both paths, every answer recorded."""

    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.samples: list[Sample] = []
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=60) as client:
            while not self.done.is_set():
                for path, body, headers in (
                    (COMPLETIONS, v2_body(), BYPASS),
                    (IN_INGRESS, MESSAGES, DUO_CHAT),
                ):
                    start = time.monotonic()
                    try:
                        status = client.post(path, json=body, headers=headers).status_code
                    except httpx.HTTPError:
                        status = 0
                    self.samples.append(Sample(start, path, status, time.monotonic() - start))
                time.sleep(0.2)

    def since(self, t: float, path: str) -> list[Sample]:
        return [s for s in list(self.samples) if s.at >= t and s.path == path]

    def stop(self) -> None:
        self.done.set()
        self.join(90)


def replica_nodes(client: Any) -> dict[str, set[str]]:
    """Deployment name -> node ids of its RUNNING replicas (what `serve status` reports)."""
    details = client.get_serve_details()
    return {
        name: {r["node_id"] for r in dep["replicas"] if r["state"] == "RUNNING"}
        for app in details["applications"].values()
        for name, dep in app["deployments"].items()
    }


def node_with(resource: str) -> set[str]:
    import ray

    return {n["NodeID"] for n in ray.nodes() if n["Alive"] and resource in n["Resources"]}


def completes(base: str) -> bool:
    try:
        r = httpx.post(base + COMPLETIONS, json=v2_body(), headers=BYPASS, timeout=10)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


def test_backend_on_a_worker_node_fails_over_and_recovers(cluster: LocalCluster) -> None:
    from ray.serve._private import api as serve_api
    from ray.serve.schema import ServeDeploySchema

    from core.settings import Config
    from serve_app.cli import load_serve_config

    t0 = time.monotonic()
    cluster.start_head(num_cpus=1, resources=HEAD)
    t_head = time.monotonic() - t0
    # Joined before the deploy: a node starting beside a deploying head misses the 15 s its
    # raylet gives its agents more often on a loaded machine.
    worker = cluster.join_worker("worker", num_cpus=1, resources=WORKER)
    port = free_port()
    config_path = cluster.root / "serve_config.yaml"
    config_path.write_text(yaml.safe_dump(cluster_config(port)))
    schema = ServeDeploySchema.model_validate(load_serve_config(config_path, Config()))
    client = serve_api.serve_start(
        http_options=schema.http_options.model_dump(), proxy_location=schema.proxy_location
    )
    client.deploy_apps(schema, _blocking=False)
    base = f"http://127.0.0.1:{port}"
    wait_for("the backend on the worker answering", lambda: completes(base), 180)
    t_serving = time.monotonic() - t0

    # Traffic crossed nodes: the ingress answered on the head, the backend on the worker.
    placed = replica_nodes(client)
    assert placed["Ingress"] and placed["Ingress"] <= node_with("gateway_node")
    assert placed["MockBackend"] and placed["MockBackend"] <= node_with("backend_node")
    assert not placed["MockBackend"] & placed["Ingress"]

    load = Load(base)
    load.start()
    try:
        wait_for("load", lambda: len(load.since(0, COMPLETIONS)) >= 5, 30)
        t_stop = time.monotonic()
        cluster.stop(worker)  # `ray stop` of that node only
        t_stopped = time.monotonic() - t_stop
        # The outage: requests for the lost backend fail fast with the contract's 503.
        wait_for(
            "503 for the lost backend",
            lambda: any(s.status == 503 for s in load.since(t_stop, COMPLETIONS)),
            40,
        )
        time.sleep(3)
        t_restart = time.monotonic()
        cluster.join_worker("worker-again", num_cpus=1, resources=WORKER)
        t_joined = time.monotonic() - t_restart
        wait_for(
            "the backend answering again",
            lambda: any(s.status == 200 for s in load.since(t_restart, COMPLETIONS)),
            120,
        )
        first_ok = min(s.at for s in load.since(t_restart, COMPLETIONS) if s.status == 200)
        wait_for("more answers", lambda: len(load.since(first_ok, IN_INGRESS)) >= 3, 30)
    finally:
        load.stop()

    outage = [s for s in load.since(t_stop, COMPLETIONS) if s.at < first_ok]
    print(
        f"\ncluster: head up {t_head:.1f}s, serving {t_serving:.1f}s, worker stopped in "
        f"{t_stopped:.1f}s, new worker joined in {t_joined:.1f}s, backend answering "
        f"{first_ok - t_restart:.1f}s after the new worker started ({first_ok - t_stop:.1f}s "
        f"after the stop); outage answers {sorted({s.status for s in outage})}, slowest "
        f"{max((s.seconds for s in outage), default=0):.2f}s"
    )
    for s in load.samples:
        print(f"  {s.at - t_stop:7.2f} {s.path:32} {s.status} {s.seconds:.3f}")
    # The ingress on the head kept answering whatever did not need the lost node.
    assert {s.status for s in load.since(0, IN_INGRESS)} == {200}
    # Requests for the lost backend got 503 quickly (200 for those the old replica finished).
    assert {s.status for s in outage} <= {200, 503}
    assert max(s.seconds for s in outage) < FAIL_FAST_S
    assert placed_again(client)


def placed_again(client: Any) -> bool:
    placed = replica_nodes(client)
    return bool(placed["MockBackend"]) and placed["MockBackend"] <= node_with("backend_node")
