"""Admission control through real Ray Serve: two Ingress replicas behind HAProxy sharing one
limit store actor (issue 16). One app for the module; each test draws on its own rule,
selected by the realm header (the bypass debug user's headers stand in for its claims).
The echo mock is its own deployment here, slowed by the agentic mock's scripted latency, so
that the priority tests have a real saturated backend behind the gates."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.integration.conftest import (
    BYPASS,
    DEPLOY_TIMEOUT_S,
    TEST_SETTINGS,
    metrics_port,
    scrape,
    wait_ready,
)
from tests.payloads import v2_body
from tests.redis_server import RedisServer

APP = "aigw_limits"
RULES: list[dict[str, Any]] = [
    {"name": "exact", "match": {"realm": "exact"}, "requests_per_minute": 10},
    {"name": "tokens", "match": {"realm": "tokens"}, "tokens_per_minute": 3000},
    {"name": "shadow", "match": {"realm": "shadow"}, "requests_per_minute": 2, "mode": "shadow"},
    {"name": "conc", "match": {"realm": "conc"}, "max_concurrent": 1},
]


def deploy_limits(
    rules: list[dict[str, Any]],
    backend: dict[str, Any] | None = None,
    ingress_replicas: int = 2,
    settings: dict[str, Any] | None = None,
    **blocks: Any,
) -> None:
    """What `serve deploy` of serve_config.yaml sends the controller: the app by import path,
    the rules in the Ingress `user_config`. A changed rule list redeployed this way reaches the
    running replicas' `reconfigure()` (`serve._run` of a rebuilt app replaced them).
    `backend`: options of the MockBackend deployment (its own deployment here, so that a
    priority gate has a real `max_ongoing_requests` behind it)."""
    from ray.serve.context import _get_global_client
    from ray.serve.schema import ServeDeploySchema

    deployments: list[dict[str, Any]] = [
        {
            "name": "Ingress",
            "num_replicas": ingress_replicas,
            "user_config": {"limits": rules, **blocks},
        }
    ]
    if backend is not None:
        deployments.append({"name": "MockBackend", **backend})
    app = {
        "name": APP,
        "route_prefix": "/limits",
        "import_path": "serve_app.app:build_app",
        # The agentic mock answers chat after a scripted `latency_ms`: a slow backend.
        "args": {
            "settings": {**TEST_SETTINGS, "use_agentic_mock": True, **(settings or {})},
            "providers_in_ingress": [],
        },
        "deployments": deployments,
    }
    _get_global_client().deploy_apps(ServeDeploySchema.model_validate({"applications": [app]}))


def replica_ids() -> set[str]:
    """The live Ingress replicas' actor ids (a replica replaced is a new actor)."""
    from ray._private.state import state

    return {
        actor_id
        for actor_id, info in state.actor_table(None).items()
        if info["ActorClassName"].endswith(f"{APP}:Ingress") and info["State"] == "ALIVE"
    }


def wait_running(replicas: int = 2, timeout_s: float = DEPLOY_TIMEOUT_S) -> None:
    from ray import serve

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app = serve.status().applications.get(APP)
        if app is not None and app.status == "RUNNING" and len(replica_ids()) == replicas:
            return
        assert app is None or app.status != "DEPLOY_FAILED", app.message
        time.sleep(0.25)
    raise TimeoutError(f"{APP} was not RUNNING with {replicas} replicas after {timeout_s}s")


def store_used(bucket: str) -> int:
    import ray

    actor = ray.get_actor(f"aigw-admission:{APP}", namespace="aigw")
    return int(ray.get(actor.used.remote(bucket), timeout=10))


@pytest.fixture(scope="module")
def url(serve_instance: str) -> str:
    deploy_limits(RULES)
    wait_running()
    base = f"{serve_instance}/limits"
    wait_ready(base)
    return base


def headers(realm: str, user: str) -> dict[str, str]:
    return {**BYPASS, "X-Gitlab-Realm": realm, "X-Gitlab-Global-User-Id": user}


def fresh_window() -> None:
    """The store's windows are minutes of the wall clock: a burst must not straddle one."""
    if time.time() % 60 > 50:
        time.sleep(60.5 - time.time() % 60)


def burst(url: str, n: int, hdrs: dict[str, str], body: dict[str, Any]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n)
    with httpx.Client(base_url=url, timeout=60, limits=limits) as c, ThreadPoolExecutor(n) as pool:
        return list(
            pool.map(lambda _: c.post("/v2/code/completions", json=body, headers=hdrs), range(n))
        )


def test_forty_concurrent_requests_over_two_replicas_admit_exactly_ten(url: str) -> None:
    fresh_window()
    answers = burst(url, 40, headers("exact", "u-exact"), v2_body())
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] * 10 + [429] * 30
    for r in answers:
        assert '"exact";q=10;w=60' in r.headers["RateLimit-Policy"]
        if r.status_code == 429:
            assert r.json() == {"detail": "Rate limit 'exact' exceeded (requests)"}
            assert 1 <= int(r.headers["Retry-After"]) <= 60
            assert r.headers["RateLimit"].startswith('"exact";r=0;t=')
    assert store_used("exact:user:u-exact:r") == 10


def test_a_streamed_burst_never_spends_more_tokens_than_the_budget(url: str) -> None:
    fresh_window()
    answers = burst(url, 100, headers("tokens", "u-tokens"), v2_body(stream=True))
    admitted = [r for r in answers if r.status_code == 200]
    assert admitted and len(admitted) < 100
    assert {r.status_code for r in answers} <= {200, 429}
    time.sleep(1.0)  # leases left idle go back to the store
    assert 0 < store_used("tokens:user:u-tokens:t") <= 3000


def test_a_slot_is_freed_when_a_request_ends_or_its_client_hangs_up(url: str) -> None:
    hdrs = headers("conc", "u-conc")
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(6):
            body = v2_body(stream=True)
            if i % 2:
                with client.stream("POST", "/v2/code/completions", json=body, headers=hdrs) as r:
                    assert r.status_code == 200
                    next(r.iter_bytes())  # then hang up mid-stream
                time.sleep(0.5)  # the replica hears of it when it next writes
                continue
            assert client.post("/v2/code/completions", json=body, headers=hdrs).status_code == 200
    time.sleep(0.5)
    assert store_used("conc:user:u-conc:c") == 0


def test_shadow_rules_never_refuse(url: str) -> None:
    answers = [burst(url, 1, headers("shadow", "u-shadow"), v2_body())[0] for _ in range(5)]
    assert [r.status_code for r in answers] == [200] * 5
    assert '"shadow";q=2;w=60' in answers[-1].headers["RateLimit-Policy"]


def test_a_new_rule_list_applies_in_place_on_redeploy(url: str) -> None:
    before = replica_ids()
    new_rule = {"name": "reloaded", "match": {"realm": "reload"}, "requests_per_minute": 1}
    # With a priority gate on the mock (wide open): it must not cost an answer, and its
    # block is part of the same reload.
    gate = {"backends": {"mock": {"max_ongoing_requests": 1000}}}
    deploy_limits([*RULES, new_rule], priority=gate)
    fresh_window()
    hdrs = headers("reload", "u-reload")
    deadline = time.monotonic() + 30
    while True:  # each replica applies the new list when Serve reaches it
        statuses = [r.status_code for r in burst(url, 4, hdrs, v2_body())]
        if statuses.count(200) == 1 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert sorted(statuses) == [200, 429, 429, 429]
    assert replica_ids() == before  # reconfigured in place: no replica restarted


def test_a_restarted_store_is_a_bounded_wait_never_an_outage(url: str) -> None:
    import ray

    ray.kill(ray.get_actor(f"aigw-admission:{APP}", namespace="aigw"), no_restart=False)
    hdrs = headers("exact", "u-after-restart")
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(5):
            started = time.monotonic()
            r = client.post("/v2/code/completions", json=v2_body(), headers=hdrs)
            assert r.status_code == 200 and time.monotonic() - started < 3.0


# Priority at a saturated backend: the MockBackend deployment takes 2 requests at a time and
# each chat holds it SLOW_MS (the agentic mock's scripted latency). These tests run last, on
# one ingress replica: HAProxy may send a whole burst to one of two replicas, and each gate
# orders only its own replica's requests. The gate's share, 2 x 1 backend replica / 1 ingress
# replica, comes from Serve's replica counts.
SLOW_MS = 800
CHAT_WAIT_S = 2.0
PRIORITY = {
    "backends": {"mock": {"max_ongoing_requests": 2}},
    "classes": [
        {"name": "completions", "features": ["code_completions"], "max_wait_s": 10, "weight": 16},
        {"name": "chat", "max_wait_s": CHAT_WAIT_S},
    ],
}
METRICS_WAIT_S = 25.0
SHED = {"detail": "Backend 'mock' is saturated: request of class 'chat' shed"}


def slow_chat() -> dict[str, Any]:
    script = f"<response latency_ms='{SLOW_MS}'>Thought: slow\nFinal Answer: done</response>"
    return {"messages": [{"role": "user", "content": script}]}


def timed(client: httpx.Client, path: str, body: dict[str, Any]) -> tuple[httpx.Response, float]:
    r = client.post(path, json=body, headers=headers("prio", "u-prio"))
    return r, time.monotonic()


def test_completions_go_ahead_of_chat_at_a_saturated_backend_and_late_chat_is_shed(
    url: str,
) -> None:
    from routing.admission.priority import SCALE_EVERY_S

    saturated = {"max_ongoing_requests": 2}
    deploy_limits(RULES, backend=saturated, ingress_replicas=1, priority=PRIORITY)
    wait_running(replicas=1)
    limits = httpx.Limits(max_connections=16)
    with (
        httpx.Client(base_url=url, timeout=30, limits=limits) as client,
        ThreadPoolExecutor(12) as pool,
    ):
        # The gate follows Serve's replica counts from its first call, every SCALE_EVERY_S.
        assert timed(client, "/v2/code/completions", v2_body())[0].status_code == 200
        time.sleep(SCALE_EVERY_S + 0.5)
        started = time.monotonic()
        chats = [pool.submit(timed, client, "/v2/chat/agent", slow_chat()) for _ in range(8)]
        time.sleep(0.3)  # two chats hold the backend, six queue behind them
        completions = [
            pool.submit(timed, client, "/v2/code/completions", v2_body()) for _ in range(4)
        ]
        chat_answers = [f.result() for f in chats]
        completion_answers = [f.result() for f in completions]
    elapsed = time.monotonic() - started
    print(
        "completions answered at",
        sorted(round(done - started, 2) for _, done in completion_answers),
        "chats at",
        sorted((r.status_code, round(done - started, 2)) for r, done in chat_answers),
    )
    assert [r.status_code for r, _ in completion_answers] == [200] * 4
    served = sorted(done for r, done in chat_answers if r.status_code == 200)
    shed = [(r, done) for r, done in chat_answers if r.status_code == 429]
    assert len(served) >= 3 and len(served) + len(shed) == 8, chat_answers
    # Two chats held the backend when the completions came; every completion was answered
    # before any chat that was still waiting then. (Without the gate, Serve queues them first
    # come, first served: they are answered after every chat.)
    assert max(done for _, done in completion_answers) < served[2]
    assert shed, "a chat that would wait past max_wait_s is shed"
    for r, done in shed:
        assert r.json() == SHED
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert done - started < CHAT_WAIT_S + 1.5  # answered at its deadline, never hung
    assert elapsed < CHAT_WAIT_S + 3 * SLOW_MS / 1000 + 2

    # The operator sees it: queue depth per class and the shed chats (Ray exports every 10 s).
    port, deadline = metrics_port(), time.monotonic() + METRICS_WAIT_S
    while True:
        series = scrape(port)
        on_mock = [
            (labels, v)
            for name in ("ray_admission_queue_depth", "ray_admission_shed_total")
            for labels, v in series.get(name, [])
            if labels.get("backend") == "mock"
        ]
        queued = {labels["class"] for labels, _ in on_mock if "reason" not in labels}
        shed_total = sum(v for labels, v in on_mock if labels.get("reason") == "timeout")
        if (queued >= {"completions", "chat"} and shed_total >= len(shed)) or (
            time.monotonic() > deadline
        ):
            break
        time.sleep(0.5)
    print(f"metrics exported {METRICS_WAIT_S - (deadline - time.monotonic()):.1f}s after")
    assert queued >= {"completions", "chat"}
    assert shed_total >= len(shed)


def test_the_gate_widens_with_the_backend_replicas_serve_reports(url: str) -> None:
    from ray import serve

    from routing.admission.priority import SCALE_EVERY_S

    # Chat never waits here: what the gate does not let through at once is shed.
    never_wait = {**PRIORITY, "classes": [{"name": "chat", "max_wait_s": 0}]}
    wider = {"max_ongoing_requests": 2, "num_replicas": 2}
    deploy_limits(RULES, backend=wider, ingress_replicas=1, priority=never_wait)
    wait_running(replicas=1)
    deadline = time.monotonic() + DEPLOY_TIMEOUT_S
    while True:
        backend = serve.status().applications[APP].deployments["MockBackend"]
        if backend.replica_states.get("RUNNING") == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    with httpx.Client(base_url=url, timeout=30) as client, ThreadPoolExecutor(4) as pool:
        assert timed(client, "/v2/code/completions", v2_body())[0].status_code == 200
        time.sleep(SCALE_EVERY_S + 0.5)  # the gate's next read of Serve's counts
        answers = list(pool.map(lambda _: timed(client, "/v2/chat/agent", slow_chat()), range(4)))
    # 2 per backend replica x 2 replicas / 1 ingress replica: the gate lets 4 chats through
    # at once (with one backend replica it lets 2 through and sheds the rest).
    assert [r.status_code for r, _ in answers] == [200] * 4


def test_two_replicas_share_one_budget_in_redis(url: str) -> None:
    """AIGW_LIMITS__REDIS_URL: the replicas take their leases from a real redis-server, not
    the actor (what several clusters naming one Redis do). Last: it redeploys the app."""
    server = RedisServer()
    server.start()
    try:
        deploy_limits(RULES, settings={"limits": {"redis_url": server.url}})
        wait_running()  # ~12 s here: every replica of the app starts again
        wait_ready(url)
        fresh_window()
        answers = burst(url, 40, headers("exact", "u-redis"), v2_body())
        assert sorted(r.status_code for r in answers) == [200] * 10 + [429] * 30
        assert server.call("HGET", "aigw:adm:exact:user:u-redis:r", "u") == b"$2\r\n10\r\n"
    finally:
        server.kill()
