"""The ports `aigw run` opens are derived from the API port, and a taken one is a one-line
error before anything starts (issue 14 item 3)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.isolation import free_port
from core.settings import Config
from serve_app.ports import port_problem
from serve_app.serve_env import port_env

ROOT = Path(__file__).resolve().parents[2]


def _ports(config: Config, api_port: int) -> dict[str, int]:
    return {x.setting: x.port for x in config.listeners("127.0.0.1", api_port)}


def test_the_default_api_port_keeps_the_usual_ports_and_the_next_one_gets_the_next():
    assert _ports(Config(), 5052) == {
        "AIGW_FASTAPI__API_PORT": 5052,
        "AIGW_EDGE__STATS_PORT": 8404,
        "AIGW_EDGE__METRICS_PORT": 9101,
        "AIGW_EDGE__FALLBACK_PORT": 8500,
        "AIGW_FASTAPI__METRICS_PORT": 8082,
        "AIGW_EDGE__DASHBOARD_AGENT_PORT": 52365,  # Ray's own default
    }
    assert set(_ports(Config(), 5053).values()) == {5053, 8405, 9102, 8501, 8083, 52366}


def test_the_ray_agent_port_past_65535_is_left_to_aigw_run():
    # An API port above 18222 would derive one past 65535: aigw run picks a free one instead.
    assert "AIGW_EDGE__DASHBOARD_AGENT_PORT" not in _ports(Config(), 20000)
    ports = _ports(Config(edge={"dashboard_agent_port": 40000}), 20000)
    assert ports["AIGW_EDGE__DASHBOARD_AGENT_PORT"] == 40000


def test_a_port_that_is_set_is_not_derived(monkeypatch):
    monkeypatch.setenv("AIGW_EDGE__STATS_PORT", "7000")
    monkeypatch.setenv("AIGW_FASTAPI__METRICS_PORT", "7001")
    ports = _ports(Config(), 6000)
    assert ports["AIGW_EDGE__STATS_PORT"] == 7000
    assert ports["AIGW_FASTAPI__METRICS_PORT"] == 7001
    assert ports["AIGW_EDGE__METRICS_PORT"] == 9101 + 948


def test_serve_gets_the_derived_ports():
    assert port_env(Config().listeners("127.0.0.1", 5060)) == {
        "RAY_SERVE_HAPROXY_STATS_PORT": "8412",
        "RAY_SERVE_HAPROXY_METRICS_PORT": "9109",
        "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": "8508",
    }


@pytest.fixture
def taken() -> Iterator[tuple[socket.socket, int]]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    yield sock, sock.getsockname()[1]
    sock.close()


def test_a_port_in_use_is_named_with_its_setting(taken):
    _, port = taken
    config = Config(edge={"stats_port": port, "aux_host": "127.0.0.1"})
    listeners = config.listeners("127.0.0.1", free_port())
    assert port_problem(listeners) == f"port {port} (AIGW_EDGE__STATS_PORT) is in use"
    # Taken on loopback is taken for every interface too (Ray's metrics agent binds all).
    config = Config(fastapi={"metrics_port": port})
    listeners = config.listeners("127.0.0.1", free_port())
    assert port_problem(listeners) == f"port {port} (AIGW_FASTAPI__METRICS_PORT) is in use"


def test_clashing_and_impossible_ports():
    api = free_port()
    clash = Config(edge={"metrics_port": api}).listeners("127.0.0.1", api)
    assert port_problem(clash) == (
        f"port {api} (AIGW_EDGE__METRICS_PORT) is also AIGW_FASTAPI__API_PORT: set one of them"
    )
    high = Config().listeners("127.0.0.1", 65000)
    assert port_problem(high) == "port 68352 (AIGW_EDGE__STATS_PORT) is out of range: set it"


def test_aigw_run_on_a_taken_port_prints_one_line_and_starts_nothing(taken):
    _, port = taken
    env = {**os.environ, "AIGW_FASTAPI__API_PORT": str(port)}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "serve_app.cli", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
    assert proc.returncode == 1
    assert err == f"aigw: port {port} (AIGW_FASTAPI__API_PORT) is in use\n"
    assert out == ""
    assert time.monotonic() - started < 30
