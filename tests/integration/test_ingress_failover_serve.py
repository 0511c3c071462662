"""A dead Ingress replica is not an outage (issue 14 item 2).

The gateway is deployed with the Ingress options serve_config.yaml ships, 8 keep-alive clients
load it for 20 s, and one Ingress replica is killed with SIGKILL mid-run.

Which failed requests had reached the killed replica is told the way HAProxy tells it: a
request HAProxy had forwarded to a replica that then died gets either a 502 (the first request
on its client connection) or its client connection closed without an answer (a later one: HAProxy
answers like a server closing an idle keep-alive connection, so that the client may retry it;
HAProxy's http_wait_for_response, TX_NOT_FIRST). Any other failure (a 503 because no replica
was left, a timeout, a refused connection) is a request that never reached the dead replica:
there must be none. HAProxy learns of the death from the closed sockets within moments, so a
forwarded request may fail only if sent before the kill or just after it (< 1 s).
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
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

    def reached_a_replica_that_died(self) -> bool:
        closed_unanswered = "Server disconnected without sending a response" in self.body
        # The replica had sent the answer's head when it died: it had started the request.
        cut_mid_answer = "peer closed connection without sending complete message body" in (
            self.body
        )
        return self.status == 502 or (self.status is None and (closed_unanswered or cut_mid_answer))


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

    stop = threading.Event()
    outcomes: list[list[Outcome]] = [[] for _ in range(CONNECTIONS)]
    threads = [threading.Thread(target=load, args=(failover_url, stop, out)) for out in outcomes]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(KILL_AT_S)
    killed, killed_wall = time.monotonic(), time.time()
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
    not_reached = [o for o in failed if not o.reached_a_replica_that_died()]
    after_death = [o for o in failed if o.sent > dead]
    end = start + LOAD_S
    answers = sorted(min(o.done, end) for o in every if o.status == 200)
    longest_gap = max(b - a for a, b in itertools.pairwise([start, *answers, end]))
    print(
        f"\n{len(every)} requests, {len(failed)} failed ({len(not_reached)} that had not "
        f"reached the killed replica, {len(after_death)} sent after it died), longest gap in "
        f"answers {longest_gap:.3f} s, kill at {killed - start:.2f} s (unix {killed_wall:.3f}), "
        f"dead after {1000 * (dead - killed):.1f} ms; failures (ms after the kill): "
        f"{[(round(1000 * (o.sent - killed)), o.status, o.body[:80]) for o in failed][:10]}"
    )
    assert not not_reached, f"requests that never reached the dead replica failed: {not_reached}"
    assert all(o.sent < dead + 1.0 for o in failed), "HAProxy kept sending to the dead replica"
    assert longest_gap <= MAX_GAP_S
    for outcome in failed:
        if outcome.status is not None:  # the edge's error is the contract's JSON
            assert httpx.Response(outcome.status, text=outcome.body).json().get("detail")


# What Serve 2.60's template writes about error pages (haproxy_templates.py), around a backend
# whose one server answers nothing: a replica that died mid-request.
EDGE_CONFIG = """global
    maxconn 100
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    retry-on conn-failure
    errorfile 502 {serve_page}
    errorfile 503 {serve_page}
    errorfile 504 {serve_page}
frontend http_frontend
    bind 127.0.0.1:{port}
    use_backend gone if {{ path_beg /gone }}
    default_backend dying
backend dying
    server replica 127.0.0.1:{dying_port}
backend gone
    server replica 127.0.0.1:{closed_port}
"""


def test_haproxy_answers_a_dead_replica_with_the_contracts_json(tmp_path: Path) -> None:
    """The real HAProxy through our wrapper: a replica that closes without answering is a 502,
    no replica to connect to is a 503, both `{"detail": ...}` JSON (Serve's page is text)."""
    from bench.isolation import free_port
    from serve_app.haproxy import nosplice_wrapper

    dying = socket.create_server(("127.0.0.1", 0))
    closed_port, port = free_port(), free_port()

    def close_after_reading() -> None:
        while True:
            try:
                conn, _ = dying.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.close()

    threading.Thread(target=close_after_reading, daemon=True).start()
    serve_page = tmp_path / "500.http"
    serve_page.write_text("HTTP/1.1 500 Internal Server Error\r\n\r\nInternal Server Error")
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        EDGE_CONFIG.format(
            serve_page=serve_page,
            port=port,
            dying_port=dying.getsockname()[1],
            closed_port=closed_port,
        )
    )
    wrapper = nosplice_wrapper(tmp_path / "bin")
    assert wrapper is not None
    proc = subprocess.Popen([wrapper, "-db", "-f", str(config)])
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                dead = httpx.post(f"http://127.0.0.1:{port}/v2/code/completions", json={})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "HAProxy did not start"
                time.sleep(0.1)
        gone = httpx.get(f"http://127.0.0.1:{port}/gone")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        dying.close()
    for response, status in ((dead, 502), (gone, 503)):
        assert response.status_code == status
        assert response.headers["content-type"] == "application/json"
        assert isinstance(response.json()["detail"], str)
