"""Load generator: curl's C multi interface, a fixed request count at a fixed concurrency."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Cell:
    target: str
    concurrency: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    ttfb_p50_ms: float
    ttfb_p99_ms: float
    errors: int
    cpu_ms_per_request: float = float("nan")  # replicas + HAProxy + proxy actors, when measured


def _body_file(body: dict[str, Any] | None) -> str:
    if body is None:
        return ""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(body, handle)
    return handle.name


# Options in a curl config apply to one URL group: each group repeats its write-out.
WRITE_OUT = "%{time_starttransfer} %{time_total} %{http_code}\\n"


def curl_run(
    url: str, body: dict[str, Any] | None, concurrency: int, total: int, headers: dict[str, str]
) -> tuple[list[tuple[float, float, int]], float]:
    """`total` requests, `concurrency` at a time, by one curl process (libcurl multi, C):
    per request (time to first byte ms, total ms, status), and the wall time in seconds."""
    config = []
    body_file = _body_file(body)
    for _ in range(total):
        config.append(f'url = "{url}"')
        if body_file:
            config.append(f'data-binary = "@{body_file}"')
            config.append('header = "Content-Type: application/json"')
        for name, value in headers.items():
            config.append(f'header = "{name}: {value}"')
        config.append('output = "/dev/null"')
        config.append(f'write-out = "{WRITE_OUT}"')
        config.append("next")
    with tempfile.NamedTemporaryFile("w", suffix=".curlrc", delete=False) as handle:
        handle.write("\n".join(config[:-1]) + "\n")
    cmd = [
        "curl",
        "-s",
        "-K",
        handle.name,
        "-w",
        "%{time_starttransfer} %{time_total} %{http_code}\n",
    ]
    if concurrency > 1:
        cmd += ["--parallel", "--parallel-max", str(concurrency), "--parallel-immediate"]
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    wall = time.perf_counter() - started
    rows = []
    for line in out.stdout.splitlines():
        ttfb, whole, status = line.split()
        rows.append((float(ttfb) * 1000, float(whole) * 1000, int(status)))
    return rows, wall


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
        if len(values) > 1
        else values[0]
    )


def measure(
    name: str,
    url: str,
    body: dict[str, Any] | None,
    concurrency: int,
    total: int,
    headers: dict[str, str] | None = None,
) -> Cell:
    rows, wall = curl_run(url, body, concurrency, total, headers or {})
    ttfb = [r[0] for r in rows]
    latency = [r[1] for r in rows]
    return Cell(
        target=name,
        concurrency=concurrency,
        requests=len(rows),
        rps=len(rows) / wall if wall else 0.0,
        p50_ms=percentile(latency, 50),
        p99_ms=percentile(latency, 99),
        ttfb_p50_ms=percentile(ttfb, 50),
        ttfb_p99_ms=percentile(ttfb, 99),
        errors=sum(1 for r in rows if r[2] != 200) + (total - len(rows)),
    )


def require_tools() -> None:
    for tool in ("curl",):
        if shutil.which(tool) is None:
            raise SystemExit(f"make bench needs `{tool}` (apt-get install -y {tool})")


def table(cells: list[Cell]) -> str:
    header = (
        f"{'target':<34} {'c':>3} {'reqs':>6} {'RPS':>8} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'TTFB p50':>9} {'TTFB p99':>9} {'err':>4} {'CPU ms/req':>10}"
    )
    rows = [header, "-" * len(header)]
    for c in cells:
        rows.append(
            f"{c.target:<34} {c.concurrency:>3} {c.requests:>6} {c.rps:>8.0f}"
            f" {c.p50_ms:>8.2f} {c.p99_ms:>8.2f} {c.ttfb_p50_ms:>9.2f}"
            f" {c.ttfb_p99_ms:>9.2f} {c.errors:>4} {c.cpu_ms_per_request:>10.3f}"
        )
    return "\n".join(rows)
