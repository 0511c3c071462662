"""X-Gateway-Timing: the stages a user can add up, and the summary `make bench` prints."""

from __future__ import annotations

import pytest

from bench import stage_timing
from observability import timing
from tests.payloads import v2_body, v3_body
from tests.unit.observability_helpers import SlowBackend, observed

MODEL_DELAY_S = 0.05


def stages_of(response) -> dict[str, float]:
    return stage_timing.parse(response.headers["x-gateway-timing"])


@pytest.mark.parametrize("stream", [False, True])
def test_stages_add_up_to_at_most_total_and_total_covers_the_model(stream):
    client, _, _ = observed(backend=SlowBackend(MODEL_DELAY_S))
    r = client.post("/v2/code/completions", json=v2_body(stream=stream))
    assert r.status_code == 200
    stages = stages_of(r)
    assert set(stages) >= {"queue", "auth", "route", "assemble", "backend_ttfb", "total"}
    parts = sum(v for k, v in stages.items() if k != "total")
    assert parts <= stages["total"]
    assert stages["backend_ttfb"] >= MODEL_DELAY_S * 1000
    assert stages["total"] >= stages["backend_ttfb"]


def test_non_streaming_counts_post_processing_and_v4_sse_has_the_header():
    client, _, _ = observed(backend=SlowBackend(0.0))
    r = client.post("/v3/code/completions", json=v3_body())
    assert "post" in stages_of(r)
    sse = client.post("/v4/code/suggestions", json=v3_body(stream=True))
    assert sse.status_code == 200 and stages_of(sse)["total"] > 0


def test_errors_and_unauthenticated_requests_still_get_timings():
    client, _, _ = observed({"auth": {"bypass_external": False}})
    r = client.post("/v2/code/completions", json=v2_body())
    assert r.status_code == 401
    stages = stages_of(r)
    assert stages["total"] >= stages.get("auth", 0.0)
    assert "backend_ttfb" not in stages


def test_edge_stamp_extends_queue_back_to_the_proxy():
    client, _, _ = observed(backend=SlowBackend(0.0))
    import time

    start = f"t={int((time.time() - 0.2) * 1e6)}"  # µs, as HAProxy/nginx write it
    stages = stages_of(client.post("/v2/code/completions", json=v2_body(),
                                   headers={"X-Request-Start": start}))  # fmt: skip
    assert stages["queue"] >= 200 and stages["total"] >= 200
    nonsense = client.post("/v2/code/completions", json=v2_body(),
                           headers={"X-Request-Start": "t=garbage"})  # fmt: skip
    assert stages_of(nonsense)["queue"] < 100


@pytest.mark.parametrize(
    ("value", "expected"),
    [("t=1700000000.5", 1.5), ("1700000000500", 1.5), ("t=1700000000500000", 1.5), ("x", 0.0)],
)
def test_edge_stamp_units(value, expected):
    assert timing.edge_queue_seconds(value, 1700000002.0) == pytest.approx(expected)


def test_clock_skew_is_not_reported_as_queueing():
    assert timing.edge_queue_seconds("t=1700000100", 1700000000.0) == 0.0


def test_other_stages_follow_the_standard_ones():
    value = timing.header_value({"tools": 0.002, "queue": 0.001}, 0.004)
    assert value == "queue=1.000, tools=2.000, total=4.000"


def test_header_rounding_never_makes_parts_exceed_total():
    stages = {"queue": 0.0000014, "auth": 0.0000014, "route": 0.0000014}
    parsed = stage_timing.parse(timing.header_value(stages, 0.0000042))
    assert sum(v for k, v in parsed.items() if k != "total") <= parsed["total"]


def test_summary_for_bench():
    headers = [
        "queue=1.0, auth=0.5, backend_ttfb=10.0, total=12.0",
        "queue=3.0, auth=0.5, backend_ttfb=20.0, total=25.0",
        None,
    ]
    summary = stage_timing.summarise(headers)
    assert summary["total"]["n"] == 2
    assert summary["total"]["p50"] == 12.0 and summary["total"]["p99"] == 25.0
    assert summary["gateway"]["mean"] == pytest.approx((2.0 + 5.0) / 2)
    table = stage_timing.format_summary(summary)
    assert table.splitlines()[1].startswith("queue") and "gateway" in table


def test_bench_breakdown_against_a_live_server():
    """`make bench`'s helper, against a real HTTP server in a thread."""
    import threading

    import uvicorn

    from bench.isolation import free_port
    from bench.stage_timing import breakdown

    client, _, _ = observed(backend=SlowBackend(0.005))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(client.app, port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        import time

        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        summary = breakdown(f"http://127.0.0.1:{port}", requests=20, concurrency=2)
    finally:
        server.should_exit = True
        thread.join(10)
    assert summary["total"]["n"] == 20
    assert summary["backend_ttfb"]["p50"] >= 4  # the 5 ms backend (loop timers are coarse)
    assert 0 < summary["gateway"]["p50"] < summary["total"]["p50"]
