"""The edge's body limit (`AIGW_LIMITS__MAX_BODY_BYTES`): a 413 in the contract's JSON shape,
from Content-Length before reading, and for a chunked body as soon as it passes the limit."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from core.edge_settings import DEFAULT_MAX_BODY_BYTES
from tests.payloads import v2_body
from tests.unit.conftest import make_client

LIMIT = 4096
CHUNK = 1024


def limited_client(**settings: Any) -> Any:
    return make_client({"limits": {"max_body_bytes": LIMIT}, **settings})


def big_body() -> dict[str, Any]:
    return v2_body(context=[{"type": "file", "name": "a.py", "content": "x = 1\n" * 1000}])


def test_a_body_over_the_limit_by_content_length_is_413_json() -> None:
    client = limited_client(auth={"bypass_external": True})
    r = client.post("/v2/code/completions", json=big_body())
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"detail": f"Content Too Large: the request body exceeds {LIMIT} bytes"}
    assert client.post("/v2/code/completions", json=v2_body()).status_code == 200


def test_the_limit_is_checked_before_auth() -> None:
    r = limited_client().post("/v2/code/completions", json=big_body())  # no token at all
    assert r.status_code == 413


def call(app: Any, chunks: list[bytes]) -> tuple[int, bytes, int]:
    """One chunked POST (no Content-Length) straight into the ASGI app: status, body, and how
    many chunks the app pulled before answering."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled < len(chunks):
            pulled += 1
            return {"type": "http.request", "body": chunks[pulled - 1], "more_body": True}
        return {"type": "http.request", "body": b"", "more_body": False}

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
        "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body, pulled


def test_a_chunked_body_is_cut_as_soon_as_it_passes_the_limit() -> None:
    app = limited_client(auth={"bypass_external": True}).app
    data = json.dumps(big_body()).encode()  # ~7 KB: 7 chunks of 1 KB
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    status, body, pulled = call(app, chunks * 1000)  # 7 MB offered
    assert status == 413
    assert json.loads(body)["detail"].startswith("Content Too Large")
    assert pulled == LIMIT // CHUNK + 1  # not one chunk more than needed to know
    small = json.dumps(v2_body()).encode()
    assert call(app, [small])[0] == 200


def test_the_default_admits_the_largest_body_the_contract_allows() -> None:
    code = "def f(x):\n    return {'a': x, \"b\": [x, x]}\n"
    item = (code * (500_000 // len(code) + 1))[:500_000]
    body = v2_body(
        context=[{"type": "t" * 1024, "name": "n" * 1024, "content": item} for _ in range(100)]
    )
    body["current_file"]["content_above_cursor"] = item[:100_000]
    body["current_file"]["content_below_cursor"] = item[:100_000]
    size = len(json.dumps(body).encode())
    assert size < DEFAULT_MAX_BODY_BYTES < 1.5 * size
