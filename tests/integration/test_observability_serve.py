"""Metrics, logs and timings through a real Ray Serve graph: two Ingress replicas, one backend.

The app is our own (`aigw_obs` at `/obs`) so that it can run two ingress replicas and log to
a file; the shared fixtures are untouched.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bench.stage_timing import parse as parse_timing
from tests.integration.conftest import (
    BYPASS,
    TEST_SETTINGS,
    deploy,
    metrics_port,
    scrape,
    wait_ready,
)
from tests.payloads import v2_body

pytestmark = pytest.mark.serve

REQUESTS = 24
METRICS_TIMEOUT_S = 90.0
MAX_ROUNDS = 5
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJpbnRlZ3JhdGlvbiJ9.aW50ZWdyYXRpb25zaWduYXR1cmU"
REALM = f"obs-{uuid.uuid4().hex[:8]}"  # labels only this module's requests


@pytest.fixture(scope="module")
def obs_app(serve_instance: str, gateway_url: str, tmp_path_factory) -> tuple[str, Path]:
    from ray import serve

    from core.settings import Config
    from deployments.backends.mock import MockBackend
    from deployments.defaults import options_for
    from serve_app.ingress import Ingress

    log_file = tmp_path_factory.mktemp("obs") / "access.log"
    settings = Config(**{**TEST_SETTINGS, "logging": {"to_file": str(log_file)}})
    backend = serve.deployment(MockBackend, **options_for("MockBackend")).bind()
    ingress = serve.deployment(
        serve.ingress()(Ingress), **{**options_for("Ingress"), "num_replicas": 2}
    )
    deploy(ingress.bind(settings, {"mock": backend}, None, None), "aigw_obs", "/obs")
    url = f"{serve_instance}/obs"
    wait_ready(url)
    return url, log_file


def ours(series, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (labels, v) for labels, v in series.get(name, []) if labels.get("gitlab_realm") == REALM
    ]


def send(url: str, i: int) -> httpx.Response:
    headers = {
        **BYPASS,
        "Authorization": f"Bearer {JWT}",
        "X-Gitlab-Realm": REALM,
        "X-Request-ID": f"{REALM}-{i}",
        "X-Gitlab-Instance-Id": "inst-obs",
    }
    return httpx.post(
        f"{url}/v2/code/completions", json=v2_body(stream=i % 2 == 1), headers=headers, timeout=30
    )


def test_metrics_logs_and_timing_across_two_replicas(obs_app):
    url, log_file = obs_app
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda i: send(url, i), range(REQUESTS)))
    assert [r.status_code for r in responses] == [200] * REQUESTS

    # Timing header: parts add up to at most the total; the total covers the model's time.
    for r in responses:
        stages = parse_timing(r.headers["x-gateway-timing"])
        assert sum(v for k, v in stages.items() if k != "total") <= stages["total"]
        assert stages["backend_ttfb"] > 0 and stages["total"] >= stages["backend_ttfb"]
        assert stages["total"] <= r.elapsed.total_seconds() * 1000

    # Metrics: summed over replicas, exactly one inference per request, from both replicas.
    # HAProxy may send a whole round to one replica (a busy machine, or the second replica
    # joining its backends late): send more rounds until both have answered.
    port = metrics_port()
    sent = REQUESTS
    for _ in range(MAX_ROUNDS):
        deadline = time.monotonic() + METRICS_TIMEOUT_S
        total, workers = 0.0, set()
        while time.monotonic() < deadline:
            series = scrape(port)
            counted = ours(series, "ray_model_inferences_total")
            total = sum(v for _, v in counted)
            workers = {labels["WorkerId"] for labels, _ in counted}
            if total >= sent:
                break
            time.sleep(1)
        assert total == sent, f"model_inferences_total={total} after {METRICS_TIMEOUT_S}s"
        if len(workers) == 2:
            break
        with ThreadPoolExecutor(8) as pool:
            more = list(pool.map(lambda i: send(url, i), range(sent, sent + REQUESTS)))
        assert [r.status_code for r in more] == [200] * REQUESTS
        sent += REQUESTS
    assert len(workers) == 2, "expected series from both ingress replicas"
    streamed = sum(
        v for lbl, v in ours(series, "ray_model_inferences_total") if lbl["streaming"] == "yes"
    )
    assert streamed == sent // 2
    durations = ours(series, "ray_inference_request_duration_seconds_count")
    assert sum(v for _, v in durations) == sent
    assert sum(v for _, v in ours(series, "ray_inference_output_tokens_total")) > 0
    assert series.get("ray_http_requests_total"), "HTTP metrics are exported"
    assert any(
        lbl.get("stage") == "gateway"
        for lbl, _ in series["ray_gateway_stage_duration_seconds_count"]
    )

    # Logs: every line JSON, one access line per request, no token anywhere.
    deadline = time.monotonic() + 20
    access: list[dict] = []
    while time.monotonic() < deadline:
        text = log_file.read_text() if log_file.exists() else ""
        lines = [json.loads(line) for line in text.splitlines() if line]
        access = [
            line for line in lines
            if line.get("logger") == "api.access" and line.get("gitlab_realm") == REALM
        ]  # fmt: skip
        if len(access) >= sent:
            break
        time.sleep(0.5)
    assert sorted(line["correlation_id"] for line in access) == sorted(
        f"{REALM}-{i}" for i in range(sent)
    )
    assert JWT not in text
    line = access[0]
    assert line["path"] == "/obs/v2/code/completions" or line["path"].endswith(
        "/v2/code/completions"
    )
    assert line["status_code"] == 200 and line["gitlab_instance_id"] == "inst-obs"
    assert line["meta.unit_primitive"] == "complete_code" and line["output_tokens"] > 0


def haproxy_config() -> str:
    """The config the running HAProxy read (Serve writes it per node; `-f` names it)."""
    import psutil

    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "haproxy" and "-f" in cmdline:
            return Path(cmdline[cmdline.index("-f") + 1]).read_text()
    raise AssertionError("no HAProxy process is running")


def frontend_requests(port: int) -> float:
    series = scrape(port).get("haproxy_frontend_http_requests_total", [])
    return sum(value for labels, value in series if labels.get("proxy") == "http_frontend")


def test_haproxy_counts_requests_in_its_own_exporter_not_per_request_in_python(gateway_url):
    """Serve's per-request HAProxy metrics are off (a line per request parsed by Serve's proxy
    actor: 0.09-0.11 ms of CPU per request); HAProxy's native exporter still counts every
    request, those it answers itself included."""
    import os

    config = haproxy_config()
    assert "log-format-sd" not in config and "metrics.sock" not in config
    port = int(os.environ["RAY_SERVE_HAPROXY_METRICS_PORT"])  # isolated_serve_env's
    before = frontend_requests(port)
    with httpx.Client(base_url=gateway_url, headers=BYPASS, timeout=30) as client:
        assert client.post("/v2/code/completions", json=v2_body()).status_code == 200
        assert client.get("/-/routes").status_code == 200  # answered by HAProxy itself
    assert frontend_requests(port) >= before + 2
