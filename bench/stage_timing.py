"""The gateway's time per stage under load, from `X-Gateway-Timing`, for `make bench`.

    python -m bench.stage_timing http://127.0.0.1:5052 --requests 500 --concurrency 8

`breakdown()` sends the requests and returns `summarise()` of the responses' headers; the
CLI prints `format_summary()` of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from observability.record import STAGES
from observability.timing import HEADER

DEFAULT_PATH = "/v2/code/completions"
DEFAULT_BODY: dict[str, Any] = {
    "prompt_version": 1,
    "current_file": {
        "file_name": "main.py",
        "content_above_cursor": "def fib(n):\n    ",
        "content_below_cursor": "",
    },
}


async def _collect(
    base_url: str,
    path: str,
    body: Mapping[str, Any],
    requests: int,
    concurrency: int,
    headers: Mapping[str, str],
) -> list[str | None]:
    values: list[str | None] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                response = await client.post(path, json=dict(body), headers=dict(headers))
                values.append(response.headers.get(HEADER))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return values


def breakdown(
    base_url: str,
    *,
    path: str = DEFAULT_PATH,
    body: Mapping[str, Any] = DEFAULT_BODY,
    requests: int = 200,
    concurrency: int = 4,
    headers: Mapping[str, str] | None = None,
) -> dict[str, dict[str, float]]:
    """Send `requests` POSTs and summarise their X-Gateway-Timing headers (ms per stage)."""
    values = asyncio.run(
        _collect(base_url, path, body, requests, concurrency, headers or {"Bypass-Auth": "true"})
    )
    return summarise(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("--path", default=DEFAULT_PATH)
    parser.add_argument("--body", help="JSON request body", default=None)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    body = json.loads(args.body) if args.body else DEFAULT_BODY
    summary = breakdown(
        args.base_url,
        path=args.path,
        body=body,
        requests=args.requests,
        concurrency=args.concurrency,
    )
    if not summary:
        print("no X-Gateway-Timing headers in the responses", file=sys.stderr)
        return 1
    print(format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())


def parse(value: str) -> dict[str, float]:
    """`X-Gateway-Timing` back into {stage: milliseconds}; unknown pieces are skipped."""
    out: dict[str, float] = {}
    for piece in value.split(","):
        name, sep, number = piece.strip().partition("=")
        if not sep:
            continue
        try:
            out[name.strip()] = float(number)
        except ValueError:
            continue
    return out


def _percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]


def summarise(headers: Iterable[str | None]) -> dict[str, dict[str, float]]:
    """For `make bench`: {stage: {n, mean, p50, p90, p99}} in ms over the responses' headers,
    plus `gateway` = total - backend_ttfb, the time the gateway itself added."""
    samples: dict[str, list[float]] = {}
    for value in headers:
        if not value:
            continue
        stages = parse(value)
        for name, ms in stages.items():
            samples.setdefault(name, []).append(ms)
        if "total" in stages:
            gateway = stages["total"] - stages.get("backend_ttfb", 0.0)
            samples.setdefault("gateway", []).append(gateway)
    summary: dict[str, dict[str, float]] = {}
    for name, values in samples.items():
        values.sort()
        summary[name] = {
            "n": float(len(values)),
            "mean": statistics.fmean(values),
            "p50": _percentile(values, 0.50),
            "p90": _percentile(values, 0.90),
            "p99": _percentile(values, 0.99),
        }
    return summary


def format_summary(summary: Mapping[str, Mapping[str, float]]) -> str:
    """A small table of `summarise`'s result, stages in request order."""
    order = [*STAGES, "total", "gateway"]
    names = [n for n in order if n in summary] + sorted(set(summary) - set(order))
    lines = [f"{'stage':<14}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'mean ms':>10}"]
    for name in names:
        s = summary[name]
        lines.append(
            f"{name:<14}{s['p50']:>10.3f}{s['p90']:>10.3f}{s['p99']:>10.3f}{s['mean']:>10.3f}"
        )
    return "\n".join(lines)
