"""Serve's HAProxy runs through our wrapper, which turns splice() off and swaps Serve's error
pages for the contract's JSON ones (serve_app/haproxy.py)."""

from __future__ import annotations

import json
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
    config = tmp_path / "my cfg"
    config.write_text("defaults\n    mode http\n")
    wrapper = haproxy.write_wrapper(tmp_path / "bin" / "wrapper", str(fake))
    out = subprocess.run(
        [str(wrapper), "-db", "-f", str(config), "-sf", "42"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"-dS -db -f {config} -sf 42"
    assert "errorfile 502 " in config.read_text()


# The parts of Serve 2.60's template (haproxy_templates.py) that the rewrite touches.
SERVE_CONFIG = """global
    maxconn 100
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    errorfile 502 {serve_page}
    errorfile 503 {serve_page}
    errorfile 504 {serve_page}
frontend http_frontend
    bind 127.0.0.1:58080
    default_backend app
backend app
    server replica 127.0.0.1:1 check
"""


def test_haproxy_loads_the_json_error_pages_in_place_of_serves(tmp_path: Path) -> None:
    serve_page = tmp_path / "500.http"
    serve_page.write_text("HTTP/1.1 500 Internal Server Error\r\n\r\nInternal Server Error")
    config = tmp_path / "haproxy.cfg"
    config.write_text(SERVE_CONFIG.format(serve_page=serve_page))
    wrapper = haproxy.nosplice_wrapper(tmp_path / "bin")
    assert wrapper is not None
    out = subprocess.run([wrapper, "-c", "-f", str(config)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr  # HAProxy accepts every page
    rewritten = config.read_text()
    assert str(serve_page) not in rewritten
    defaults = rewritten.split("defaults\n")[1].split("frontend")[0]
    for status in (400, 408, 413, 500, 502, 503, 504):
        assert f"errorfile {status} " in defaults
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert leftovers == ["500.http", "haproxy.cfg"]  # no partial copy left behind


@pytest.mark.parametrize("status", sorted(haproxy.EDGE_ERRORS))
def test_every_edge_error_page_is_the_contracts_json_with_its_status(status: int) -> None:
    head, _, body = haproxy.error_page(status).partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0].startswith(f"HTTP/1.1 {status} ")
    assert "content-type: application/json" in lines
    assert f"content-length: {len(body)}" in lines
    assert isinstance(json.loads(body)["detail"], str)


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
    assert (path.parent / f"{path.name}-errors" / "502.http").is_file()


def test_an_operators_haproxy_binary_wins(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HAPROXY_BINARY, "/usr/sbin/haproxy")
    export_serve_env()
    assert os.environ[HAPROXY_BINARY] == "/usr/sbin/haproxy"
    assert not (clean_env / ".cache").exists()


def test_no_wrapper_without_haproxy(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_SERVE_ENABLE_HA_PROXY", "0")
    assert HAPROXY_BINARY not in export_serve_env()
    assert HAPROXY_BINARY not in os.environ
