"""Load generators: wrk (C) for latency and throughput, curl (C) for time to first byte."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LUA = Path(__file__).with_name("fixed_count.lua")


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


def _body_file(body: dict[str, Any] | None) -> str:
    if body is None:
        return ""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(body, handle)
    return handle.name


def wrk(
    url: str, body: dict[str, Any] | None, concurrency: int, total: int, headers: dict[str, str]
) -> dict[str, Any]:
    threads = min(concurrency, 2)
    cmd = ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", "120s", "-s", str(LUA)]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    env = {
        "BODY_FILE": _body_file(body),
        "N_PER_THREAD": str(max(1, total // threads)),
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(
        [*cmd, url], capture_output=True, text=True, env=env, timeout=180, check=True
    )
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("{"))
    result: dict[str, Any] = json.loads(line)
    return result


def curl_ttfb(
    url: str, body: dict[str, Any] | None, concurrency: int, total: int, headers: dict[str, str]
) -> list[float]:
    """Time to first byte of each of `total` requests, `concurrency` at a time (curl --parallel)."""
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
        config.append("next")
    with tempfile.NamedTemporaryFile("w", suffix=".curlrc", delete=False) as handle:
        handle.write("\n".join(config[:-1]) + "\n")
    cmd = ["curl", "-s", "-K", handle.name, "-w", "%{time_starttransfer}\n"]
    if concurrency > 1:
        cmd += ["--parallel", "--parallel-max", str(concurrency), "--parallel-immediate"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    return [float(v) * 1000 for v in out.stdout.split() if v]


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
    ttfb_total: int = 300,
) -> Cell:
    headers = headers or {}
    stats = wrk(url, body, concurrency, total, headers)
    ttfb = curl_ttfb(url, body, concurrency, ttfb_total, headers)
    seconds = stats["duration_us"] / 1e6
    return Cell(
        target=name,
        concurrency=concurrency,
        requests=stats["requests"],
        rps=stats["requests"] / seconds if seconds else 0.0,
        p50_ms=stats["p50_us"] / 1000,
        p99_ms=stats["p99_us"] / 1000,
        ttfb_p50_ms=percentile(ttfb, 50),
        ttfb_p99_ms=percentile(ttfb, 99),
        errors=stats["errors"],
    )


def require_tools() -> None:
    for tool in ("wrk", "curl"):
        if shutil.which(tool) is None:
            raise SystemExit(f"make bench needs `{tool}` (apt-get install -y {tool})")


def table(cells: list[Cell]) -> str:
    header = (
        f"{'target':<34} {'c':>3} {'reqs':>6} {'RPS':>8} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'TTFB p50':>9} {'TTFB p99':>9} {'err':>4}"
    )
    rows = [header, "-" * len(header)]
    for c in cells:
        rows.append(
            f"{c.target:<34} {c.concurrency:>3} {c.requests:>6} {c.rps:>8.0f}"
            f" {c.p50_ms:>8.2f} {c.p99_ms:>8.2f} {c.ttfb_p50_ms:>9.2f}"
            f" {c.ttfb_p99_ms:>9.2f} {c.errors:>4}"
        )
    return "\n".join(rows)
