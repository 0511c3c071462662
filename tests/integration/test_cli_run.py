"""`aigw run` (what `make run` starts): serves serve_config.yaml, honours the port override,
and leaves no process behind after SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from bench.isolation import free_port, isolated_serve_env

ROOT = Path(__file__).resolve().parents[2]


def test_aigw_run_serves_then_stops_cleanly():
    port = free_port()
    env = {
        **os.environ,
        **isolated_serve_env(),
        "AIGW_FASTAPI__API_PORT": str(port),
        "AIGW_MOCK_MODEL_RESPONSES": "true",
        "AIGW_AUTH__BYPASS_EXTERNAL": "true",
    }
    marker = env["RAY_SERVE_HAPROXY_SERVER_STATE_BASE"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "serve_app.cli", "run", "--num-cpus", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 150
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"{base}/monitoring/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "aigw run did not become ready"
            time.sleep(0.5)
        body = {
            "prompt_version": 1,
            "current_file": {
                "file_name": "a.py",
                "content_above_cursor": "x",
                "content_below_cursor": "",
            },
        }
        r = httpx.post(f"{base}/v2/code/completions", json=body, timeout=10)
        assert r.status_code == 200 and r.json()["choices"][0]["text"].startswith("echo: ")
        session_pids = {p.pid for p in psutil.process_iter() if _in_session(p, proc.pid)}
        assert len(session_pids) > 3  # Ray's GCS, raylet, workers, HAProxy...
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        assert proc.returncode == 0
        time.sleep(2)
        leftovers = [
            p for p in psutil.process_iter(["pid", "cmdline"]) if _leftover(p, session_pids, marker)
        ]
        assert leftovers == [], [p.info for p in leftovers]
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{base}/monitoring/healthz", timeout=2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def _in_session(p: psutil.Process, sid: int) -> bool:
    try:
        return os.getsid(p.pid) == sid
    except (ProcessLookupError, PermissionError):
        return False


def _leftover(p: psutil.Process, pids: set[int], marker: str) -> bool:
    try:
        cmdline = " ".join(p.info.get("cmdline") or [])
        return (
            p.pid in pids and p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        ) or marker in cmdline
    except psutil.Error:
        return False
