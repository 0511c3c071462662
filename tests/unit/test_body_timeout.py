"""A body that stops arriving is cut (nginx `client_body_timeout`: the most time between two
reads), on a real uvicorn server (what Serve runs in each replica) over real sockets; a live
slow upload and a long stream are not (issue 14 item 4: the edge's `wait-for-body` covers
only HAProxy's first 16 KiB)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from tests.payloads import v2_body
from tests.unit.conftest import make_client

TIMEOUT_S = 1


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    app = make_client(
        {
            "auth": {"bypass_external": True},
            "use_agentic_mock": True,
            "edge": {"request_body_timeout_s": TIMEOUT_S},
        }
    ).app
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield uv.servers[0].sockets[0].getsockname()[1]
    uv.should_exit = True
    thread.join(timeout=10)


def _big_body() -> bytes:
    """A valid v2 body of ~40 KiB: more than HAProxy's 16 KiB buffer."""
    return json.dumps(
        v2_body(context=[{"type": "file", "name": "a.py", "content": "x" * 40_000}])
    ).encode()


def _head(length: int) -> bytes:
    return (
        b"POST /v2/code/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % length
    )


def _read_until_closed(sock: socket.socket, limit_s: float) -> bytes:
    sock.settimeout(limit_s)
    answer = b""
    while True:
        try:
            piece = sock.recv(65536)
        except TimeoutError:
            return answer + b"(still open)"
        if not piece:
            return answer
        answer += piece


def test_a_body_that_stops_after_its_first_part_is_cut(server: int) -> None:
    body = _big_body()
    with socket.create_connection(("127.0.0.1", server)) as sock:
        started = time.monotonic()
        sock.sendall(_head(len(body)) + body[:20_000])  # then nothing
        answer = _read_until_closed(sock, 10)
        took = time.monotonic() - started
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"connection: close" in head.lower()
    assert json.loads(payload)["detail"].startswith("Request Timeout")
    assert not answer.endswith(b"(still open)")  # closed, not kept for another request
    assert TIMEOUT_S - 0.2 < took < TIMEOUT_S + 1.5, took


def test_a_slow_upload_that_keeps_coming_is_served(server: int) -> None:
    """Each piece comes within the timeout; the whole upload takes twice it."""
    body = _big_body()
    step = len(body) // 3 + 1
    pieces = [body[i : i + step] for i in range(0, len(body), step)]
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(_head(len(body)))
        started = time.monotonic()
        for piece in pieces:
            sock.sendall(piece)
            time.sleep(0.7 * TIMEOUT_S)
        took = time.monotonic() - started
        sock.settimeout(10)
        answer = sock.recv(65536)
    assert took > 2 * TIMEOUT_S
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]


def test_a_stream_with_silences_longer_than_the_timeout_is_not_cut(server: int) -> None:
    script = "<response stream='true' latency_ms='1200' chunk_delay_ms='1200'>Final Answer: a b"
    body = {"messages": [{"role": "user", "content": script + "</response>"}]}
    started = time.monotonic()
    url = f"http://127.0.0.1:{server}/v2/chat/agent"
    with httpx.stream("POST", url, json=body, timeout=30) as response:
        assert response.status_code == 200
        events = [json.loads(line) for line in response.iter_lines() if line]
    text = "".join(e["data"]["text"] for e in events if e["type"] == "final_answer_delta")
    assert text == "a b" and events[-1]["type"] == "usage"
    assert time.monotonic() - started > 3 * TIMEOUT_S
