"""A client that hangs up stops the work it asked for: through HAProxy, the ingress replica and
a backend deployment, down to the upstream model (the OpenAI-compatible fake), which sees its
connection close. A raw socket plays the client so the hang-up comes exactly when the upstream
is busy, and several rounds catch a proxy that misses one hang-up in a few."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Behaviour
from tests.integration.conftest import litellm, provider_gateway

ROUNDS = 20
# A hang-up reaches the upstream in ~0.05 s here; the gateway's own timeouts are far longer.
NOTICED_WITHIN_S = 3.0


@pytest.fixture(scope="module")
def gateway(serve_instance: str, fakes: tuple[FakeOpenAI, FakeAnthropic]) -> Iterator[httpx.Client]:
    timeouts = {"first_byte_s": 60.0, "total_s": 60.0}
    yield from provider_gateway(serve_instance, fakes[1], "hangup", timeouts)


def raw_request(
    base_url: str, path: str, body: dict[str, Any]
) -> tuple[socket.socket, bytes, bytes]:
    """A connected socket, the request head and its body: sent in two writes as HTTP clients
    do (httpx among them), so the body reaches the proxy after the head."""
    url = urlsplit(base_url)
    payload = json.dumps(body).encode()
    head = (
        f"POST {url.path.rstrip('/')}{path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        "Bypass-Auth: true\r\n\r\n"
    ).encode()
    sock = socket.create_connection((url.hostname, url.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock, head, payload


def wait_until(check: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def hang_up_while_upstream_works(
    gateway: httpx.Client, fake: FakeOpenAI, path: str, body: dict[str, Any], read_first: bool
) -> float | None:
    """Send the request, hang up once the upstream has it (after the first bytes of the answer
    when `read_first`); seconds until the upstream saw its caller go, None if it never did."""
    before = len(fake.received)
    sock, head, payload = raw_request(str(gateway.base_url), path, body)
    sock.sendall(head)
    sock.sendall(payload)
    if not wait_until(lambda: len(fake.received) > before, 10):
        sock.settimeout(5)
        raise AssertionError(
            f"the request never got upstream; the gateway said {sock.recv(2000)!r}"
        )
    upstream = fake.received[-1]
    if read_first:
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    hung_up = time.monotonic()
    sock.close()
    if not wait_until(lambda: upstream.left is not None, NOTICED_WITHIN_S):
        return None
    assert upstream.left is not None
    return upstream.left - hung_up


def test_hanging_up_on_a_non_streamed_request_cancels_it_upstream(
    gateway: httpx.Client, openai_fake: FakeOpenAI
) -> None:
    delays = []
    for _ in range(ROUNDS):
        openai_fake.will(Behaviour(kind="slow", delay_s=30))
        body = litellm(openai_fake)
        delays.append(
            hang_up_while_upstream_works(gateway, openai_fake, "/v2/code/generations", body, False)
        )
    missed = [i for i, d in enumerate(delays) if d is None]
    assert not missed, f"rounds {missed} of {ROUNDS}: the upstream kept working for nobody"
    print(f"\n[hang-up] non-streamed: upstream told after {max(d for d in delays if d):.3f}s max")


def test_hanging_up_mid_stream_stops_the_upstream_stream(
    gateway: httpx.Client, openai_fake: FakeOpenAI
) -> None:
    delays = []
    for _ in range(ROUNDS // 2):
        words = tuple(f"w{i} " for i in range(200))
        openai_fake.will(Behaviour(pieces=words, chunk_delay_s=0.1))
        body = litellm(openai_fake, stream=True)
        delays.append(
            hang_up_while_upstream_works(gateway, openai_fake, "/v2/code/completions", body, True)
        )
    missed = [i for i, d in enumerate(delays) if d is None]
    assert not missed, f"rounds {missed}: the upstream kept streaming for nobody"


def test_a_client_that_stays_gets_its_answer(
    gateway: httpx.Client, openai_fake: FakeOpenAI
) -> None:
    """The fake's hang-up record is no false alarm: an answered request has none."""
    openai_fake.will(Behaviour(kind="slow", delay_s=0.2, text="return name"))
    r = gateway.post("/v2/code/generations", json=litellm(openai_fake))
    assert r.status_code == 200, r.text
    assert openai_fake.last.left is None
