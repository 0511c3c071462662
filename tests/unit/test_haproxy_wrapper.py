"""Serve's HAProxy runs through our wrapper, which turns splice() off and applies AIGW_EDGE__*
to the config Serve wrote: side listeners on loopback, request timeouts, the contract's JSON
error pages (serve_app/haproxy.py)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from serve_app import haproxy
from serve_app.serve_env import HAPROXY_BINARY, SERVE_ENV_DEFAULTS, export_serve_env


def _fake_haproxy(tmp_path: Path) -> Path:
    fake = tmp_path / "fake haproxy"  # a space in the path must survive the shell
    fake.write_text('#!/bin/sh\necho "$$ $@"\n')
    fake.chmod(0o755)
    return fake


def test_the_wrapper_runs_the_binary_with_splice_off_and_every_argument(tmp_path: Path) -> None:
    wrapper = haproxy.write_wrapper(tmp_path / "bin" / "wrapper", str(_fake_haproxy(tmp_path)))
    config = tmp_path / "my cfg"
    config.write_text("global\n")
    proc = subprocess.Popen(
        [str(wrapper), "-db", "-f", str(config), "-sf", "42"], stdout=subprocess.PIPE, text=True
    )
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    # The same process all along: Serve signals and reaps the pid it started.
    assert out.strip() == f"{proc.pid} -dS -db -f {config} -sf 42"


def _serve_config(tmp_path: Path) -> Path:
    """The config Serve's own template renders for an API on 127.0.0.1:18181."""
    from ray.serve._private.haproxy import HAProxyApi, HAProxyConfig
    from ray.serve.config import HTTPOptions

    cfg = HAProxyConfig(
        http_options=HTTPOptions(host="127.0.0.1", port=18181),
        socket_path=str(tmp_path / "admin.sock"),
        server_state_base=str(tmp_path),
        server_state_file=str(tmp_path / "state"),
        metrics_socket_path=str(tmp_path / "metrics.sock"),
        stats_port=18404,
        metrics_port=19101,
    )
    path = tmp_path / "haproxy.cfg"
    HAProxyApi(cfg=cfg, config_file_path=str(path))._generate_config_file_internal()
    return path


def test_the_wrapper_puts_side_listeners_on_loopback_and_times_slow_requests_out(
    tmp_path: Path,
) -> None:
    config = _serve_config(tmp_path)
    served = config.read_text()
    assert "bind *:18404" in served and "bind :19101" in served  # Serve: every interface
    assert "timeout http-request" not in served and "wait-for-body" not in served
    flags = haproxy.EdgeFlags(aux_host="127.0.0.1", header_timeout_s=3, body_timeout_s=7)
    wrapper = haproxy.write_wrapper(tmp_path / "w", str(_fake_haproxy(tmp_path)), flags)
    subprocess.run([str(wrapper), "-db", "-f", str(config)], check=True, timeout=10)
    edited = config.read_text()
    lines = [line.strip() for line in edited.splitlines()]
    assert "bind 127.0.0.1:18404" in lines and "bind 127.0.0.1:19101" in lines
    assert "bind 127.0.0.1:18181" in lines  # the API's own bind is Serve's
    defaults = lines[lines.index("defaults") :]
    assert defaults[1] == "timeout http-request 3s"
    api = lines[lines.index("frontend http_frontend") :]
    assert api[2] == "http-request wait-for-body time 7s"
    assert haproxy.edge_config(edited, flags) == edited  # a reload re-applies nothing
    binary = haproxy.bundled_haproxy()
    assert binary is not None
    check = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_the_wrapper_swaps_serves_text_error_page_for_the_contracts_json(tmp_path: Path) -> None:
    config = _serve_config(tmp_path)
    serve_page = str(tmp_path / "500.http")  # Serve's one page, for 502, 503 and 504
    assert f"errorfile 502 {serve_page}" in config.read_text()
    wrapper = haproxy.write_wrapper(tmp_path / "w", str(_fake_haproxy(tmp_path)))
    subprocess.run([str(wrapper), "-db", "-f", str(config)], check=True, timeout=10)
    edited = config.read_text()
    pages = tmp_path / haproxy.ERROR_PAGES_DIR
    assert serve_page not in edited
    defaults = edited.split("\ndefaults\n")[1].split("\nfrontend ")[0]
    for status in (400, 408, 413, 500, 502, 503, 504):
        assert f'errorfile {status} "{pages / f"{status}.http"}"' in defaults
        assert (pages / f"{status}.http").read_bytes() == haproxy.error_page(status)
    assert haproxy.edge_config(edited, haproxy.EdgeFlags(), pages) == edited  # reloads
    binary = haproxy.bundled_haproxy()
    assert binary is not None
    check = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr  # HAProxy loads every page


@pytest.mark.parametrize("status", sorted(haproxy.EDGE_ERRORS))
def test_every_edge_error_page_is_the_contracts_json_with_its_status(status: int) -> None:
    head, _, body = haproxy.error_page(status).partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0].startswith(f"HTTP/1.1 {status} ")
    assert "content-type: application/json" in lines
    assert f"content-length: {len(body)}" in lines
    assert isinstance(json.loads(body)["detail"], str)


def test_the_wrapper_refuses_to_run_a_config_it_cannot_edit(tmp_path: Path) -> None:
    wrapper = haproxy.write_wrapper(tmp_path / "w", str(_fake_haproxy(tmp_path)))
    out = subprocess.run(
        [str(wrapper), "-f", str(tmp_path / "missing.cfg")], capture_output=True, text=True
    )
    assert out.returncode == 1 and out.stdout == ""
    assert "cannot edit" in out.stderr


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
    assert "--aux-host=127.0.0.1" in path.read_text()


def test_an_operators_haproxy_binary_wins(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HAPROXY_BINARY, "/usr/sbin/haproxy")
    export_serve_env()
    assert os.environ[HAPROXY_BINARY] == "/usr/sbin/haproxy"
    assert not (clean_env / ".cache").exists()


def test_no_wrapper_without_haproxy(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_SERVE_ENABLE_HA_PROXY", "0")
    assert HAPROXY_BINARY not in export_serve_env()
    assert HAPROXY_BINARY not in os.environ


def test_the_images_wrapper_gives_way_to_one_with_this_processes_settings(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = haproxy.bundled_haproxy()
    assert binary is not None
    built = haproxy.write_wrapper(clean_env / "image-wrapper", binary)  # the image's defaults
    monkeypatch.setenv(HAPROXY_BINARY, str(built))
    monkeypatch.setenv("AIGW_EDGE__REQUEST_HEADER_TIMEOUT_S", "3")
    export_serve_env()
    assert os.environ[HAPROXY_BINARY] != str(built)
    assert "--header-timeout-s=3" in Path(os.environ[HAPROXY_BINARY]).read_text()
