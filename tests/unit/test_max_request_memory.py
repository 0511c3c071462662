"""A maximum-size request (API.md §1.3: 100 context items of 500,000 characters, ~52 MB of
JSON) through the whole FastAPI app, in a fresh process: what it adds to the process's peak
RSS. Before issue 14 it was +4.4 GB (every character tokenized) and 20 s on this machine."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

# The body itself is ~52 MB and its parsed strings ~50 MB: both are alive while it is served.
# Starlette's default `json.loads` held a third copy (+145 MB measured); tokenizing all of it
# took gigabytes.
MAX_PEAK_ABOVE_IDLE_MB = 125


def _rss_mb() -> tuple[int, int]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, value = line.split(":", 1)
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) // 1024
    return fields["VmRSS"], fields["VmHWM"]


def _measure() -> None:
    """Run in a child process: prints `<status> <peak MB above idle>`."""
    import asyncio.base_events as base_events
    import inspect

    from tests.payloads import v2_body
    from tests.unit.conftest import make_client

    app = make_client({"auth": {"bypass_external": True}}).app
    source = inspect.getsource(base_events)
    item = (source * (500_000 // len(source) + 1))[:500_000]
    body = v2_body(context=[{"type": "file", "name": "m.py", "content": item}] * 100)
    data = json.dumps(body).encode()
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    del body, item, data

    async def serve(pieces: list[bytes]) -> int:
        feed = iter(pieces)
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            piece = next(feed, None)  # a fresh copy, as a server hands over each read
            return {"type": "http.request", "body": bytes(piece or b""), "more_body": bool(piece)}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v2/code/completions",
            "raw_path": b"/v2/code/completions",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"content-type", b"application/json")],
            "client": ("127.0.0.1", 1),
            "server": ("testserver", 80),
        }
        await app(scope, receive, send)
        return int(sent[0]["status"])

    asyncio.run(serve([json.dumps(v2_body()).encode()]))  # warm: tokenizer, routes
    gc.collect()
    idle = _rss_mb()[0]
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM)
    status = asyncio.run(serve(chunks))
    print(status, _rss_mb()[1] - idle)


def test_a_maximum_size_request_costs_little_memory() -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, __file__], capture_output=True, text=True, env=env, cwd=root, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    status, peak = out.stdout.split()[-2:]
    assert status == "200"
    assert int(peak) < MAX_PEAK_ABOVE_IDLE_MB, f"+{peak} MB"


if __name__ == "__main__":
    _measure()
