"""Serve's HAProxy runs through our wrapper, which turns splice() off (serve_app/haproxy.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from serve_app import haproxy
from serve_app.serve_env import HAPROXY_BINARY, SERVE_ENV_DEFAULTS, export_serve_env


def test_the_wrapper_runs_the_binary_with_splice_off_and_every_argument(tmp_path: Path) -> None:
    fake = tmp_path / "fake haproxy"  # a space in the path must survive the shell
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(0o755)
    wrapper = haproxy.write_wrapper(tmp_path / "bin" / "wrapper", str(fake))
    out = subprocess.run(
        [str(wrapper), "-f", "/tmp/my cfg", "-sf", "42"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "-dS -f /tmp/my cfg -sf 42"


def test_the_wrapper_is_rewritten_only_when_the_binary_moves(tmp_path: Path) -> None:
    path = tmp_path / "wrapper"
    haproxy.write_wrapper(path, "/opt/a/haproxy")
    first = path.stat().st_mtime_ns
    os.utime(path, ns=(first - 10**9, first - 10**9))
    haproxy.write_wrapper(path, "/opt/a/haproxy")
    assert path.stat().st_mtime_ns == first - 10**9  # untouched
    haproxy.write_wrapper(path, "/opt/b/haproxy")
    assert "/opt/b/haproxy" in path.read_text()
    assert os.access(path, os.X_OK)


def test_the_wrapped_bundled_haproxy_starts(tmp_path: Path) -> None:
    wrapper = haproxy.nosplice_wrapper(tmp_path)
    assert wrapper is not None, "ray[serve] installs a bundled HAProxy"
    out = subprocess.run([wrapper, "-v"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and "HAProxy version" in out.stdout


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    for key in (HAPROXY_BINARY, *SERVE_ENV_DEFAULTS):  # restored after the test
        monkeypatch.delenv(key, raising=False)
    return tmp_path


def test_serve_env_points_serve_at_the_wrapper(clean_env: Path) -> None:
    exported = export_serve_env()
    path = Path(exported[HAPROXY_BINARY])
    assert path.parent == clean_env / ".cache" / "aigw-serve" / "bin"
    assert os.environ[HAPROXY_BINARY] == str(path)
    assert " -dS " in path.read_text()


def test_an_operators_haproxy_binary_wins(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HAPROXY_BINARY, "/usr/sbin/haproxy")
    export_serve_env()
    assert os.environ[HAPROXY_BINARY] == "/usr/sbin/haproxy"
    assert not (clean_env / ".cache").exists()


def test_no_wrapper_without_haproxy(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_SERVE_ENABLE_HA_PROXY", "0")
    assert HAPROXY_BINARY not in export_serve_env()
    assert HAPROXY_BINARY not in os.environ
