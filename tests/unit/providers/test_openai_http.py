"""What the `openai` SDK did for whole answers and `openai_http` now does by hand: its headers,
keep-alive connections, its error mapping, and closing the sessions of evicted endpoints."""

from __future__ import annotations

import asyncio

import pytest

from core.errors import ModelError, ModelRateLimited, ModelTimeout
from core.settings import Config
from deployments.backends.openai_compat import OpenAICompatBackend
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Behaviour
from tests.unit.providers.test_openai_compat_backend import backend, completion, target


async def test_whole_answers_reuse_one_keep_alive_connection(fake_openai: FakeOpenAI) -> None:
    be = backend()
    for _ in range(3):
        await be.generate(completion(fake_openai))
    clients = {received.client for received in fake_openai.received}
    assert len(clients) == 1  # one TCP connection for the three calls
    assert fake_openai.last.headers["connection"] == "keep-alive"


async def test_the_sdks_headers_go_out_and_operator_headers_win(fake_openai: FakeOpenAI) -> None:
    be = OpenAICompatBackend(
        Config(
            custom_models={"enabled": True, "extra_headers": {"user-agent": "ops/1", "X-Team": "a"}}
        ).openai_compat_backend()
    )
    await be.generate(completion(fake_openai))
    headers = fake_openai.last.headers
    assert headers["user-agent"] == "ops/1" and headers["x-team"] == "a"
    assert headers["accept"] == "application/json"
    assert headers["content-type"] == "application/json"
    assert headers["x-stainless-retry-count"] == "0"
    assert headers["x-stainless-read-timeout"] == "60.0"  # the total deadline, as the SDK said
    assert headers["authorization"].startswith("Bearer ")
    # The SDK's compact JSON, non-ASCII text as UTF-8.
    fake_openai.will(Behaviour())
    request = completion(fake_openai).model_copy(update={"prefix": "# café\n"})
    await backend().generate(request)
    assert fake_openai.last.body.startswith(
        b'{"model":"Codestral-22B-v0.1","prompt":"# caf\xc3\xa9\\n"'
    )


async def test_error_statuses_keep_upstream_status_and_retry_after(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.will(Behaviour(kind="status", status=503, headers={"retry-after": "7"}))
    with pytest.raises(ModelError) as failed:
        await backend().generate(completion(fake_openai))
    assert type(failed.value) is ModelError and failed.value.upstream_status == 503
    assert str(failed.value) == "openai-compatible answered HTTP 503"
    date = "Wed, 21 Oct 2026 07:28:00 GMT"
    fake_openai.will(Behaviour(kind="status", status=429, headers={"Retry-After": date}))
    with pytest.raises(ModelRateLimited) as limited:
        await backend().generate(completion(fake_openai))
    assert limited.value.retry_after == date


async def test_a_refused_connection_is_a_timeout_as_with_the_sdk() -> None:
    """Routing treats it as a hung target and falls back at once (the SDK's aiohttp transport
    mapped every connection error to its timeout)."""
    from bench.isolation import free_port

    closed = FakeOpenAI()
    closed.url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ModelTimeout, match="openai-compatible timed out"):
        await backend().generate(completion(closed))


async def test_an_empty_or_odd_answer_is_a_model_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.will(Behaviour(kind="malformed"))
    with pytest.raises(ModelError, match="call failed: JSONDecodeError"):
        await backend().generate(completion(fake_openai))


async def test_evicted_endpoints_close_their_sessions_once_idle(fake_openai: FakeOpenAI) -> None:
    be = backend()
    be._clients.limit = 1
    fake_openai.will(Behaviour(body_delay_s=0.3))
    first = completion(fake_openai)
    slow = asyncio.create_task(be.generate(first))
    await asyncio.sleep(0.1)
    evicted = be._clients[fake_openai.url + "/v1"]
    # Another endpoint (the same server by another name) pushes the first one out.
    other = first.model_copy(
        update={"target": target(fake_openai).model_copy(update={"endpoint": fake_openai.url})}
    )
    fake_openai.will(Behaviour(kind="status", status=404))
    with pytest.raises(ModelError):
        await be.generate(other)
    assert list(be._clients) == [fake_openai.url]
    assert not evicted.session.closed  # its call is still reading the answer
    assert (await slow).text == "hello there from the fake model"
    await asyncio.sleep(0)
    assert evicted.session.closed
