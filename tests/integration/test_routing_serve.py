"""Resilient routing through real Ray Serve with two ingress replicas: the breaker shared
through the hub actor (after it opens, no replica sends to the target; one half-open probe
in the whole graph), and the `routing:` policy hot-reloaded by a deploy of a changed
user_config without a replica restart, an invalid block refused with the running policy kept;
a killed hub leaves each replica on its own breakers, and the new hub learns their open ones.
One app for the module (the Anthropic SDK in the ingress, against the fake)."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.server import Behaviour
from tests.integration.conftest import BYPASS, wait_ready
from tests.payloads import v2_body

APP, PREFIX = "aigw_route", "/route"
CLAUDE = "claude_sonnet_4_5_20250929"
BODY = v2_body(model_provider="anthropic", model_name="claude-sonnet-4-5-20250929")
COOLDOWN_S = 4.0
POLICY: dict[str, Any] = {
    "version": "v1",
    "retry": {"attempts_per_target": 1},
    "breaker": {"consecutive_failures": 2, "cooldown_s": COOLDOWN_S},
}


def deploy_config(anthropic: FakeAnthropic, routing: dict[str, Any]) -> None:
    """What `serve deploy` sends the controller: the app by import path, Ingress overrides."""
    from ray.serve.context import _get_global_client
    from ray.serve.schema import ServeDeploySchema

    settings = {
        "auth": {"bypass_external_with_header": True},
        "anthropic_api_key": "sk-ant-server",
        "anthropic_base_url": anthropic.url,
        "mock_model_responses": False,
    }
    app = {
        "name": APP,
        "route_prefix": PREFIX,
        "import_path": "serve_app.app:build_app",
        "args": {"settings": settings, "providers_in_ingress": ["mock", "anthropic"]},
        "deployments": [
            {
                "name": "Ingress",
                "num_replicas": 2,
                "user_config": {"routing": routing},
                "ray_actor_options": {"num_cpus": 0.1},
            },
            {"name": "LocalBackend", "num_replicas": 1, "ray_actor_options": {"num_cpus": 0.1}},
        ],
    }
    _get_global_client().deploy_apps(ServeDeploySchema.model_validate({"applications": [app]}))


def ingress_actor_ids() -> set[str]:
    from ray._private.state import state

    return {
        actor_id
        for actor_id, info in state.actor_table(None).items()
        if info["ActorClassName"].endswith(f"{APP}:Ingress") and info["State"] == "ALIVE"
    }


def wait_running(timeout_s: float = 180.0) -> str:
    from ray import serve

    deadline = time.monotonic() + timeout_s
    status = ""
    while time.monotonic() < deadline:
        app = serve.status().applications.get(APP)
        status = app.status if app is not None else ""
        if status == "RUNNING" and len(ingress_actor_ids()) == 2:
            return status
        if status == "DEPLOY_FAILED":
            return status
        time.sleep(0.25)
    return status


@pytest.fixture(scope="module")
def routed(serve_instance: str, fakes: Any) -> Iterator[tuple[httpx.Client, FakeAnthropic]]:
    anthropic = fakes[1]
    deploy_config(anthropic, POLICY)
    assert wait_running() == "RUNNING"
    url = f"{serve_instance}{PREFIX}"
    wait_ready(url)
    with httpx.Client(base_url=url, headers=BYPASS, timeout=30) as client:
        yield client, anthropic


def wait_for_hub(timeout_s: float = 60.0) -> None:
    """The hub actor is up (its first start costs a worker process), and a sync has passed."""
    import ray

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            ray.get_actor(f"aigw-breakers-{APP}", namespace="aigw")
            time.sleep(1.0)
            return
        except ValueError:
            time.sleep(0.25)
    raise TimeoutError("the breaker hub actor never started")


def hub_state() -> Any:
    import ray

    return ray.get(ray.get_actor(f"aigw-breakers-{APP}", namespace="aigw").state.remote())


def post(client: httpx.Client) -> httpx.Response:
    """A request on a connection of its own: HAProxy balances connections, so a kept-alive
    one would pin every request to one replica."""
    return httpx.post(
        f"{str(client.base_url).rstrip('/')}/v2/code/completions",
        json=BODY,
        headers={**BYPASS, "connection": "close"},
        timeout=30,
    )


def test_breaker_opens_for_every_replica_and_half_opens_with_one_probe(
    routed: tuple[httpx.Client, FakeAnthropic],
) -> None:
    client, fake = routed
    fake.reset()
    for _ in range(8):  # both replicas serve (and start syncing with the hub)
        assert post(client).status_code == 200
    wait_for_hub()
    fake.reset()
    fake.will(*[Behaviour(kind="status", status=503)] * 4)
    failing = time.monotonic()  # the breaker opens after this: open until its cooldown ends
    for _ in range(4):
        if "breaker=" in post(client).headers.get("x-gateway-route", ""):
            break
    opened = time.monotonic()  # ... and before this
    # The other replica hears of it at its next sync (every 250 ms; later on a busy runner):
    # four answers in a row, each on a connection of its own, come from the open breaker.
    streak = 0
    while streak < 4:
        assert time.monotonic() < failing + COOLDOWN_S - 2.0, "a replica never heard of it"
        route = post(client).headers.get("x-gateway-route", "")
        streak = streak + 1 if f"breaker={CLAUDE}:open" in route else 0
    sent = len(fake.received)
    # Within the cooldown only: past it the hub rightly lets one probe through (a slow
    # machine's 20 requests outlasted a shorter cooldown, and its probe was counted here).
    answers = []
    while len(answers) < 20 and time.monotonic() < failing + COOLDOWN_S - 0.5:
        answers.append(post(client))
    assert len(answers) >= 5
    assert len(fake.received) == sent  # nothing from either replica
    assert all(r.status_code == 503 for r in answers)
    assert all(f"breaker={CLAUDE}:open" in r.headers["x-gateway-route"] for r in answers)

    # The cooldown has passed: the hub grants one replica the probe.
    time.sleep(max(0.0, opened + COOLDOWN_S + 0.5 - time.monotonic()))
    fake.reset()
    fake.will(Behaviour(text="probe ok", delay_s=1.0))
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        batch = list(pool.map(lambda _: post(client), range(16)))
    routes = [(r.status_code, r.headers.get("x-gateway-route")) for r in batch]
    assert len(fake.received) == 1, (hub_state(), routes)  # one probe in the whole graph
    assert sum(r.status_code == 200 for r in batch) == 1
    time.sleep(0.6)
    assert post(client).status_code == 200 and post(client).status_code == 200  # closed


def test_policy_reloads_without_restart_and_an_invalid_block_is_refused(
    routed: tuple[httpx.Client, FakeAnthropic],
) -> None:

    client, fake = routed
    fake.reset()
    before = ingress_actor_ids()
    deploy_config(fake, {**POLICY, "version": "v2"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        routes = {post(client).headers.get("x-gateway-route", "") for _ in range(6)}
        if all("policy=v2" in r for r in routes):
            break
        time.sleep(0.25)
    assert all("policy=v2" in r for r in routes), routes
    assert ingress_actor_ids() == before  # reconfigured in place, no replica restarted

    deploy_config(fake, {**POLICY, "version": "v3", "retry": {"attempts_per_target": 0}})
    assert wait_running(60.0) == "RUNNING"
    time.sleep(2.0)
    assert ingress_actor_ids() == before  # refused in place: no replica replaced
    routes = {post(client).headers.get("x-gateway-route", "") for _ in range(6)}
    assert all("policy=v2" in r for r in routes), routes  # the running policy stays


def hub_actor_id() -> str:
    import ray

    return str(ray.get_actor(f"aigw-breakers-{APP}", namespace="aigw")._actor_id.hex())


def test_a_killed_hub_leaves_each_replica_on_its_own_breakers_and_a_new_one_learns_them(
    routed: tuple[httpx.Client, FakeAnthropic],
) -> None:
    """Last in the module: the target stays out for its 30 s Retry-After."""
    import ray

    client, fake = routed
    fake.reset()
    for _ in range(6):
        assert post(client).status_code == 200
    wait_for_hub()
    # A Retry-After far past the cooldown: the target stays out while the hub is replaced.
    fake.will(*[Behaviour(kind="status", status=429, headers={"retry-after": "30"})] * 4)
    for _ in range(4):
        if "breaker=" in post(client).headers.get("x-gateway-route", ""):
            break
    time.sleep(1.0)  # both replicas hold the graph's view
    old = hub_actor_id()
    sent = len(fake.received)

    ray.kill(ray.get_actor(f"aigw-breakers-{APP}", namespace="aigw"))
    killed = time.monotonic()
    during: list[tuple[int, float, str]] = []
    while time.monotonic() < killed + 30.0:  # requests go on while a replica starts a new hub
        started = time.monotonic()
        r = post(client)
        during.append((r.status_code, time.monotonic() - started, r.headers["x-gateway-route"]))
        try:
            if hub_actor_id() != old and CLAUDE in hub_state()["breakers"]:
                break
        except ValueError:
            pass
    back_s = time.monotonic() - killed
    assert hub_actor_id() != old
    assert hub_state()["breakers"][CLAUDE][0] == "open", back_s  # relearned from the replicas
    time.sleep(0.6)  # both replicas have synced with the new hub
    after = [post(client) for _ in range(6)]
    answers = during + [(r.status_code, 0.0, r.headers["x-gateway-route"]) for r in after]
    # Each answered by the replica's own breaker (a hub that forgot would have let them
    # through), and none waited on the missing hub.
    assert len(fake.received) == sent, back_s
    assert all(s == 503 and f"breaker={CLAUDE}:open" in h for s, _, h in answers), answers
    assert max(t for _, t, _ in during) < 3.0, (back_s, during)
