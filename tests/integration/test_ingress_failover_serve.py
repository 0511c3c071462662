"""A dead Ingress replica is not an outage (issue 14 item 2).

The gateway is deployed with the Ingress options serve_config.yaml ships, 8 keep-alive clients
load it for 20 s, and one Ingress replica is killed with SIGKILL mid-run. Requests sent after
the replica's process is gone never reached it: every one of them must be answered, and
answers must never stop for more than a second. A request the dead replica had started may
fail, but only with the contract's JSON error.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml

from tests.integration.conftest import BYPASS, TEST_SETTINGS, deploy, wait_ready
from tests.payloads import v2_body

ROOT = Path(__file__).resolve().parents[2]
APP, PREFIX = "aigw_failover", "/failover"
CONNECTIONS, LOAD_S, KILL_AT_S, MAX_GAP_S = 8, 20.0, 6.0, 1.0


def shipped_ingress_options() -> dict[str, Any]:
    """The Ingress entry of serve_config.yaml, less its name: what an operator deploys."""
    config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    for entry in config["applications"][0]["deployments"]:
        if entry["name"] == "Ingress":
            return {k: v for k, v in entry.items() if k != "name"}
    raise AssertionError("serve_config.yaml has no Ingress deployment")


def expected_replicas(options: dict[str, Any]) -> int:
    if "autoscaling_config" in options:
        return int(options["autoscaling_config"].get("min_replicas", 1))
    return int(options.get("num_replicas", 1))


def ingress_pids() -> list[int]:
    """PIDs of the app's live Ingress replicas (Ray titles each worker process by its actor)."""
    title = f"ServeReplica:{APP}:Ingress"
    pids = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or ())
        if title in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            pids.append(proc.pid)
    return pids


@dataclass
class Outcome:
    sent: float
    done: float
    status: int | None  # None: no HTTP answer (the connection failed)
    body: str


def load(url: str, stop: threading.Event, outcomes: list[Outcome]) -> None:
    body = v2_body()
    with httpx.Client(base_url=url, headers=BYPASS, timeout=10) as client:
        while not stop.is_set():
            sent = time.monotonic()
            try:
                response = client.post("/v2/code/completions", json=body)
                status: int | None = response.status_code
                text = response.text
            except httpx.HTTPError as exc:
                status, text = None, repr(exc)
            outcomes.append(Outcome(sent, time.monotonic(), status, text))


def wait_for_replicas(count: int, timeout_s: float = 120.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pids = ingress_pids()
        if len(pids) >= count:
            return pids
        time.sleep(0.5)
    raise TimeoutError(f"{APP} never had {count} Ingress replicas")


@pytest.fixture
def failover_url(serve_instance: str) -> str:
    from serve_app.app import build_app

    app = build_app({"settings": TEST_SETTINGS})
    # Serve's config-file path applies these overrides the same way (deployment options).
    app._bound_deployment = app._bound_deployment.options(**shipped_ingress_options())
    deploy(app, APP, PREFIX)
    url = f"{serve_instance}{PREFIX}"
    wait_ready(url)
    return url


def test_killing_one_ingress_replica_under_load_loses_no_request_it_had_not_started(
    failover_url: str,
) -> None:
    replicas = expected_replicas(shipped_ingress_options())
    assert replicas >= 2, "serve_config.yaml should ship two Ingress replicas"
    victim = wait_for_replicas(replicas)[0]
    time.sleep(2.0)  # HAProxy's reload with every replica in it lands after RUNNING

    stop, outcomes = threading.Event(), [[] for _ in range(CONNECTIONS)]
    threads = [threading.Thread(target=load, args=(failover_url, stop, out)) for out in outcomes]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(KILL_AT_S)
    killed = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    while psutil.pid_exists(victim) and psutil.Process(victim).status() != psutil.STATUS_ZOMBIE:
        time.sleep(0.001)
    dead = time.monotonic()  # its sockets are closed: nothing sent from here on can reach it
    time.sleep(max(0.0, start + LOAD_S - time.monotonic()))
    stop.set()
    for thread in threads:
        thread.join(timeout=30)

    every = sorted((o for out in outcomes for o in out), key=lambda o: o.sent)
    failed = [o for o in every if o.status != 200]
    after_death = [o for o in failed if o.sent > dead]
    end = start + LOAD_S
    answers = sorted(min(o.done, end) for o in every if o.status == 200)
    longest_gap = max(b - a for a, b in itertools.pairwise([start, *answers, end]))
    print(
        f"\n{len(every)} requests, {len(failed)} failed ({len(after_death)} sent after the "
        f"replica died), longest gap in answers {longest_gap:.3f} s, kill at "
        f"{killed - start:.2f} s, dead after {1000 * (dead - killed):.1f} ms; failures: "
        f"{[(round(o.sent - start, 3), o.status, o.body[:80]) for o in failed][:10]}"
    )
    assert not after_death, f"requests that never reached the dead replica failed: {after_death}"
    assert longest_gap <= MAX_GAP_S
    for outcome in failed:  # only requests the dead replica may have started
        if outcome.status is not None:
            assert httpx.Response(outcome.status, text=outcome.body).json().get("detail")


def test_a_request_haproxy_cannot_parse_gets_the_contracts_json_error(gateway_url: str) -> None:
    host, port = httpx.URL(gateway_url).host, httpx.URL(gateway_url).port
    assert port is not None
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"GET /monitoring/healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
        raw = b""
        while b"\r\n\r\n" not in raw or not raw.rstrip().endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), raw
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["detail"] == "Bad request"
