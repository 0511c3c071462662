"""A maximum-size request next to small ones (issue 14 item 1): what it costs the Ingress replica.

The contract lets a v2 body carry 100 context items of 500,000 characters each (API.md §1.3):
about 50 M characters, which no model's token budget can use. This part of `make bench` sends
one such request (real Python source, so JSON escapes its newlines and quotes as a client's
would) and reports the Ingress replica's RSS peak above its idle RSS, the big request's
latency, and the p99 of small completions with and without big requests running beside them.

    python -m bench.max_request            # this part alone (its own Ray Serve, ~2 min)

`make bench` runs it after the throughput table.
"""

from __future__ import annotations

import asyncio.base_events
import inspect
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.load import Cell, curl_run, measure, percentile, table
from tests.payloads import v2_body

ITEMS = 100
ITEM_CHARS = 500_000
INGRESS_MARKER = "ServeReplica:{app}:Ingress"
SAMPLE_EVERY_S = 0.01


def max_body() -> dict[str, Any]:
    """The largest body the contract allows for /v2 completions, filled with real code."""
    source = inspect.getsource(asyncio.base_events)
    item = (source * (ITEM_CHARS // len(source) + 1))[:ITEM_CHARS]
    body = v2_body()
    body["context"] = [
        {"type": "file", "name": f"module_{i}.py", "content": item} for i in range(ITEMS)
    ]
    return body


class Replicas:
    """The Ingress replicas of `app` (autoscaling may have started more than one under the
    load before this part): their RSS summed, whichever one serves the big request."""

    def __init__(self, app: str) -> None:
        marker = INGRESS_MARKER.format(app=app)
        self.procs = [
            proc
            for proc in psutil.process_iter(["cmdline"])
            if marker in " ".join(proc.info["cmdline"] or ())
        ]
        if not self.procs:
            raise SystemExit(f"no process of {marker}")

    def rss(self) -> int:
        total = 0
        for proc in self.procs:
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total


class PeakRss:
    """Samples the replicas' RSS every 10 ms on a thread; `peak` is the highest seen."""

    def __init__(self, proc: Replicas) -> None:
        self.proc = proc
        self.peak = proc.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.rss())
            time.sleep(SAMPLE_EVERY_S)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def over_limit(url: str) -> list[str]:
    """A body one byte over the default limit, with Content-Length and chunked: the status,
    the answer and how long it took (a refused body should not be read whole)."""
    import subprocess
    import tempfile

    from core.edge_settings import DEFAULT_MAX_BODY_BYTES

    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        handle.write(b"x" * (DEFAULT_MAX_BODY_BYTES + 1))
    lines = []
    for how, extra in (("Content-Length", []), ("chunked", ["-H", "Transfer-Encoding: chunked"])):
        out = subprocess.run(
            [
                "curl",
                "-s",
                "-H",
                "Content-Type: application/json",
                *extra,
                "--data-binary",
                f"@{handle.name}",
                "-w",
                " %{http_code} %{time_total}",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        ).stdout
        lines.append(f"  {DEFAULT_MAX_BODY_BYTES + 1:,}-byte body, {how}: {out}")
    Path(handle.name).unlink()
    return lines


@dataclass
class MaxRequestResult:
    body_mb: float
    idle_rss_mb: float
    peak_above_idle_mb: float
    after_above_idle_mb: float
    big_ms: list[float]
    big_status: list[int]
    two_at_once_peak_above_idle_mb: float
    small_alone: Cell
    small_beside_big: Cell
    refused: list[str]


def _big(url: str, body: dict[str, Any], concurrency: int, total: int) -> list[tuple[float, int]]:
    rows, _ = curl_run(url, body, concurrency, total, {})
    return [(whole, status) for _, whole, status in rows]


def _say(verbose: bool, text: str) -> None:
    if verbose:
        print(text, flush=True)


def run(
    base: str, app: str = "aigw", quick: bool = False, verbose: bool = False, singles: int = 3
) -> MaxRequestResult:
    url = f"{base}/v2/code/completions"
    body = max_body()
    import json

    body_mb = len(json.dumps(body).encode()) / 1e6
    small = 200 if quick else 600
    measure("warm-up", url, v2_body(), 4, 200)
    proc = Replicas(app)
    idle = proc.rss()
    small_alone = measure("/v2 small, alone", url, v2_body(), 1, small)
    _say(verbose, f"idle RSS {idle / 2**20:.0f} MB; small alone p99 {small_alone.p99_ms:.1f} ms")
    with PeakRss(proc) as one:
        big = _big(url, body, 1, singles)
    after = proc.rss()
    _say(
        verbose,
        f"{singles} max-size one at a time: {big}; peak +{(one.peak - idle) / 2**20:.0f} MB",
    )
    with PeakRss(proc) as two:
        big += _big(url, body, 2, 2)
    _say(verbose, f"2 at once: {big[-2:]}; peak +{(two.peak - idle) / 2**20:.0f} MB")
    # Big requests back to back on a thread while small ones run at c=1.
    stop = threading.Event()
    behind: list[tuple[float, int]] = []

    def keep_sending() -> None:
        while not stop.is_set():
            behind.extend(_big(url, body, 1, 1))

    worker = threading.Thread(target=keep_sending, daemon=True)
    worker.start()
    time.sleep(0.5)
    small_beside = measure("/v2 small, max-size ones beside", url, v2_body(), 1, small)
    stop.set()
    worker.join()
    mb = 1024 * 1024
    return MaxRequestResult(
        body_mb=body_mb,
        idle_rss_mb=idle / mb,
        peak_above_idle_mb=(one.peak - idle) / mb,
        after_above_idle_mb=(after - idle) / mb,
        big_ms=[ms for ms, _ in big + behind],
        big_status=sorted({status for _, status in big + behind}),
        two_at_once_peak_above_idle_mb=(two.peak - idle) / mb,
        small_alone=small_alone,
        small_beside_big=small_beside,
        refused=over_limit(url),
    )


def report(result: MaxRequestResult) -> str:
    big = result.big_ms
    lines = [
        f"max-size /v2 request: {ITEMS} context items x {ITEM_CHARS:,} chars,"
        f" {result.body_mb:.1f} MB of JSON; Ingress replicas' idle RSS {result.idle_rss_mb:.0f} MB",
        f"  RSS peak above idle, one at a time:   {result.peak_above_idle_mb:8.0f} MB"
        " (target < 150 MB)",
        f"  RSS peak above idle, two at once:     {result.two_at_once_peak_above_idle_mb:8.0f} MB",
        f"  RSS above idle after those:           {result.after_above_idle_mb:8.0f} MB",
        f"  latency of the first one:             {big[0]:8.0f} ms (target < 1000 ms)",
        f"  latency p50 / max of {len(big)}:"
        f"{percentile(big, 50):>17.0f} / {max(big):.0f} ms; statuses {result.big_status}",
        *result.refused,
        "",
        table([result.small_alone, result.small_beside_big]),
    ]
    return "\n".join(lines)


def main() -> None:
    import argparse

    from bench.run import deploy_gateway_only, start_serve

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer small requests")
    parser.add_argument("--singles", type=int, default=3, help="max-size requests one by one")
    args = parser.parse_args()
    base = start_serve()
    try:
        deploy_gateway_only(base)
        print(report(run(base, quick=args.quick, verbose=True, singles=args.singles)))
    finally:
        from ray import serve

        serve.shutdown()
        import ray

        ray.shutdown()


if __name__ == "__main__":
    main()
