"""`aigw run` puts Ray's metrics export port on AIGW_FASTAPI__METRICS_PORT and says where."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from core.settings import Config
from serve_app import cli

ROOT = Path(__file__).resolve().parents[2]


def test_metrics_url_follows_the_settings():
    assert cli.metrics_url(Config()) == "http://127.0.0.1:8082/metrics"
    custom = Config(fastapi={"metrics_host": "10.0.0.5", "metrics_port": 9100})
    assert cli.metrics_url(custom) == "http://10.0.0.5:9100/metrics"


def test_run_starts_ray_with_the_metrics_export_port(monkeypatch):
    import ray

    monkeypatch.setattr(os, "environ", dict(os.environ))  # run() exports RAY_SERVE_* knobs
    monkeypatch.setenv("AIGW_FASTAPI__METRICS_PORT", "9911")
    seen: dict = {}

    def fake_init(**kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(ray, "init", fake_init)
    monkeypatch.setattr(cli, "port_problem", lambda listeners: None)  # whatever runs here
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(RuntimeError, match="stop here"):
            cli.run(ROOT / "serve_config.yaml", num_cpus=1)
    finally:  # run() ignores signals while it shuts down; give pytest its own back
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert seen["_metrics_export_port"] == 9911
    assert seen["include_dashboard"] is False
