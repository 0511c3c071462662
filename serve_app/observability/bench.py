"""The gateway's time per stage under load, from `X-Gateway-Timing`, for `make bench`.

    python -m serve_app.observability.bench http://127.0.0.1:5052 --requests 500 --concurrency 8

`breakdown()` sends the requests and returns `timing.summarise()` of the responses' headers;
the CLI prints `timing.format_summary()` of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping
from typing import Any

import httpx

from serve_app.observability import timing

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
                values.append(response.headers.get(timing.HEADER))

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
    return timing.summarise(values)


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
    print(timing.format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
