"""`aigw run` (what `make run` starts), twice side by side on two API ports with every other
port derived (issue 14 item 3), against slow clients (item 4); SIGTERM leaves no process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from bench.isolation import free_port
from core.settings import Config

ROOT = Path(__file__).resolve().parents[2]
EDGE_TIMEOUT_S = 2  # gateway A's header and body timeouts; B keeps the defaults
# A runs under the default CPU policy (SCHED_BATCH), B under AIGW_EDGE__CPU_POLICY=normal.
BODY = {
    "prompt_version": 1,
    "current_file": {"file_name": "a.py", "content_above_cursor": "x", "content_below_cursor": ""},
}


@dataclass
class Gateway:
    port: int
    proc: subprocess.Popen[str]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _operator_env() -> dict[str, str]:
    """This environment without the Serve knobs the session's Ray instance exported (its
    HAProxy's config and socket paths, ports, binary): `aigw run` starts as an operator's shell
    would start it, and must not share the session HAProxy's files."""
    serve_knobs = ("RAY_SERVE_HAPROXY_", "RAY_SERVE_FALLBACK_PROXY_")
    return {k: v for k, v in os.environ.items() if not k.startswith(serve_knobs)}


def _start(port: int, **extra: str) -> subprocess.Popen[str]:
    env = {
        **_operator_env(),
        "AIGW_FASTAPI__API_PORT": str(port),
        "AIGW_MOCK_MODEL_RESPONSES": "true",
        "AIGW_AUTH__BYPASS_EXTERNAL": "true",
        **extra,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "serve_app.cli", "run", "--num-cpus", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_ready(gateway: Gateway, deadline: float) -> None:
    while True:
        proc = gateway.proc
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if httpx.get(f"{gateway.base}/monitoring/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"aigw run on {gateway.port} did not become ready"
        time.sleep(0.5)


def _two_free_ports() -> int:
    """An API port whose successor is free too, as is every port both derive from them."""
    for _ in range(50):
        port = free_port()
        ports = [x.port for p in (port, port + 1) for x in Config().listeners("127.0.0.1", p)]
        if all(_free(p) for p in ports):
            return port
    raise RuntimeError("no two free API ports")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def gateways() -> Iterator[tuple[Gateway, Gateway]]:
    port = _two_free_ports()
    timeouts = str(EDGE_TIMEOUT_S)
    started: list[Gateway] = []
    try:
        # One after the other: two Rays starting at once on a loaded 2-core machine can miss
        # ray.init's fixed 30 s for the node to register, and take as long in all.
        a = Gateway(
            port,
            _start(
                port,
                AIGW_USE_AGENTIC_MOCK="true",
                AIGW_EDGE__REQUEST_HEADER_TIMEOUT_S=timeouts,
                AIGW_EDGE__REQUEST_BODY_TIMEOUT_S=timeouts,
            ),
        )
        started.append(a)
        _wait_ready(a, time.monotonic() + 180)
        b = Gateway(port + 1, _start(port + 1, AIGW_EDGE__CPU_POLICY="normal"))
        started.append(b)
        _wait_ready(b, time.monotonic() + 180)
        yield a, b
    finally:
        for g in started:
            if g.proc.poll() is None:
                os.killpg(g.proc.pid, signal.SIGKILL)


def test_two_gateways_on_neighbouring_api_ports_both_answer(gateways):
    for g in gateways:
        r = httpx.post(f"{g.base}/v2/code/completions", json=BODY, timeout=10)
        assert r.status_code == 200 and r.json()["choices"][0]["text"].startswith("echo: ")
    # Each one's HAProxy stats and Prometheus listeners are its own, and on loopback only.
    listening = {
        c.laddr.port: c.laddr.ip
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN
    }
    for g in gateways:
        for x in Config().listeners("127.0.0.1", g.port):
            if x.setting in ("AIGW_EDGE__STATS_PORT", "AIGW_EDGE__METRICS_PORT"):
                assert listening.get(x.port) == "127.0.0.1", (x, listening.get(x.port))


def _agent_log(gateway: Gateway) -> Path:
    """The dashboard agent's log of this gateway's Ray (its raylet names the log folder)."""
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if cmdline and cmdline[0].endswith("raylet") and _in_session(proc, gateway.proc.pid):
            log_dir = next(a.split("=", 1)[1] for a in cmdline if a.startswith("--log_dir="))
            return Path(log_dir) / "dashboard_agent.log"
    raise AssertionError(f"no raylet of the gateway on {gateway.port}")


def test_neither_gateways_ray_agent_fails_to_bind_its_port(gateways):
    # Ray's fixed 52365 made the second gateway's agent log this and run without HTTP.
    for g in gateways:
        log = _agent_log(g).read_text(errors="replace")
        assert "Failed to start HTTP server" not in log, (g.port, log[-2000:])
        assert "address already in use" not in log.lower(), (g.port, log[-2000:])


def test_a_third_gateway_on_a_taken_port_says_so_in_one_line(gateways):
    a, _ = gateways
    started = time.monotonic()
    proc = _start(a.port)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert out.strip() == f"aigw: port {a.port} (AIGW_FASTAPI__API_PORT) is in use"
    assert time.monotonic() - started < 30  # nothing started, nothing to wait for


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling")
def test_ray_the_replicas_and_haproxy_run_under_the_cpu_policy(gateways):
    for g, expected in zip(gateways, (os.SCHED_BATCH, os.SCHED_OTHER), strict=True):
        session = [p for p in psutil.process_iter(["cmdline"]) if _in_session(p, g.proc.pid)]
        named = {p.pid: " ".join(p.info["cmdline"] or ()) for p in session}
        ingress = [pid for pid, cmd in named.items() if "ServeReplica:" in cmd and "Ingress" in cmd]
        raylet = [pid for pid, cmd in named.items() if cmd.split(" ", 1)[0].endswith("raylet")]
        haproxy = {  # the API port's listener, wherever Ray put its session
            c.pid
            for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == g.port and c.pid
        }
        assert ingress and raylet and haproxy, (g.port, named)
        # Every thread of a replica (its loop, Ray's, the log writer's), not only its first.
        tids = [int(t) for pid in ingress for t in os.listdir(f"/proc/{pid}/task")]
        policies = {}
        for pid in [*tids, *raylet, *haproxy]:
            with contextlib.suppress(ProcessLookupError):  # a thread that just ended
                policies[pid] = os.sched_getscheduler(pid)
        assert set(policies.values()) == {expected}, (g.port, policies)


def _hold_time(port: int, head: bytes, trickle: bytes, limit_s: float) -> tuple[float, bytes]:
    """Seconds the gateway keeps a connection that sends `head`, then `trickle` at 1 byte/s."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        started = time.monotonic()
        sock.sendall(head)
        sock.settimeout(1.0)
        for byte in trickle:
            try:
                sock.sendall(bytes([byte]))
                answer = sock.recv(4096)  # waits up to 1 s: the trickle's pace
                return time.monotonic() - started, answer
            except TimeoutError:
                pass
            except OSError:
                return time.monotonic() - started, b""
            if time.monotonic() - started > limit_s:
                break
        return time.monotonic() - started, b"(still open)"


def test_slow_headers_and_bodies_are_cut_after_the_timeouts(gateways):
    a, _ = gateways
    head = b"POST /v2/code/completions HTTP/1.1\r\nHost: a\r\n"
    header_trickle = b"X-Slow: " + b"a" * 60 + b"\r\n\r\n"
    payload = json.dumps(BODY).encode()
    body_head = head + b"Content-Type: application/json\r\n"
    body_head += b"Content-Length: %d\r\n\r\n" % len(payload)
    results: dict[str, tuple[float, bytes]] = {}
    runs = {
        "headers": (head, header_trickle),
        "body": (body_head, payload),
    }
    threads = [
        threading.Thread(target=lambda k=k, v=v: results.update({k: _hold_time(a.port, *v, 30)}))
        for k, v in runs.items()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for kind, (held, answer) in results.items():
        print(f"slow {kind}: held {held:.1f} s, answered {answer[:32]!r}")
        assert answer.startswith(b"HTTP/1.1 408"), (kind, held, answer)
        assert EDGE_TIMEOUT_S - 0.5 < held < EDGE_TIMEOUT_S + 2.5, (kind, held)


def test_a_stream_longer_than_every_timeout_is_not_cut(gateways):
    a, _ = gateways
    # 3 s before the first chunk and between chunks, 12 s in all: each gap outlasts the 2 s
    # timeouts, the whole stream six times.
    script = "<response stream='true' latency_ms='3000' chunk_delay_ms='3000'>Final Answer: a b"
    body = {"messages": [{"role": "user", "content": script + "</response>"}]}
    started = time.monotonic()
    with httpx.stream("POST", f"{a.base}/v2/chat/agent", json=body, timeout=30) as response:
        assert response.status_code == 200
        events = [json.loads(line) for line in response.iter_lines() if line]
    took = time.monotonic() - started
    print(f"stream of {len(events)} events took {took:.1f} s")
    text = "".join(e["data"]["text"] for e in events if e["type"] == "final_answer_delta")
    assert text == "a b" and events[-1]["type"] == "usage"
    assert took > 3 * EDGE_TIMEOUT_S


def test_sigterm_stops_each_gateway_leaving_nothing(gateways):
    sessions = []
    for g in gateways:
        session = {p.pid for p in psutil.process_iter() if _in_session(p, g.proc.pid)}
        assert len(session) > 3  # Ray's GCS, raylet, workers, HAProxy...
        ports = {x.port for x in Config().listeners("127.0.0.1", g.port)}
        session |= {  # HAProxy and the proxies, wherever Ray put their sessions
            c.pid
            for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port in ports and c.pid
        }
        sessions.append(session)
        g.proc.send_signal(signal.SIGTERM)
    for g, session in zip(gateways, sessions, strict=True):
        g.proc.wait(timeout=60)
        assert g.proc.returncode == 0
        deadline = time.monotonic() + 2  # Ray's processes exit on their own once told
        while leftovers := [
            p for p in psutil.process_iter(["pid", "cmdline"]) if _left(p, session)
        ]:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert leftovers == [], [p.info for p in leftovers]
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{g.base}/monitoring/healthz", timeout=2)


def _in_session(p: psutil.Process, sid: int) -> bool:
    try:
        return os.getsid(p.pid) == sid
    except (ProcessLookupError, PermissionError):
        return False


def _left(p: psutil.Process, pids: set[int]) -> bool:
    try:
        return p.pid in pids and p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
