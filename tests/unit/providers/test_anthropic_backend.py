"""AnthropicBackend through the real `anthropic` SDK against the Messages fake."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from core.calls import model_request
from core.errors import ModelError, ModelRateLimited, ModelTimeout
from core.settings import Config
from core.types import Message, ModelRequest, ModelTarget, Sampling
from deployments.backends.anthropic import AnthropicBackend
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.server import Behaviour

KEY = "sk-ant-test-key"


def key_sent(headers: dict[str, str]) -> str:
    """The SDK sends `x-api-key` (older versions) or `Authorization: Bearer` (this one)."""
    return headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")


def backend(fake: FakeAnthropic, **timeouts: float) -> AnthropicBackend:
    return AnthropicBackend(
        Config(
            anthropic_api_key=KEY, anthropic_base_url=fake.url, model_timeouts=timeouts
        ).anthropic_backend()
    )


def chat(
    *, temperature: float | None = None, stop: Sequence[str] = (), stream: bool = False
) -> ModelRequest:
    """A call as the gateway builds it, to a model with its own stop sequence."""
    target = ModelTarget(
        backend="anthropic",
        engine="anthropic",
        name="claude-sonnet-4-5-20250929",
        identifier="claude-sonnet-4-5-20250929",
        stop=("</new_code>",),
    )
    messages = [
        Message(role="system", content="You write code."),
        Message(role="user", content="def add(a, b):"),
        Message(role="assistant", content="<new_code> "),
    ]
    sampling = Sampling(max_tokens=64, temperature=temperature)
    return model_request(
        target, kind="chat", messages=messages, sampling=sampling, stop=stop, stream=stream
    )


async def test_generate_sends_system_prefill_stops_and_key(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.will(Behaviour(text="return a + b"))
    result = await backend(fake_anthropic).generate(chat(temperature=0.2, stop=["\n\n"]))
    assert result.text == "return a + b"
    assert result.output_tokens == 4
    sent = fake_anthropic.last
    assert sent.path == "/v1/messages"
    assert key_sent(sent.headers) == KEY
    body = sent.json()
    assert body["model"] == "claude-sonnet-4-5-20250929"
    assert body["system"] == "You write code."
    assert body["messages"] == [
        {"role": "user", "content": "def add(a, b):"},
        {"role": "assistant", "content": "<new_code>"},
    ]
    assert body["stop_sequences"] == ["\n\n", "</new_code>"]
    assert body["max_tokens"] == 64
    assert body["temperature"] == 0.2


async def test_stream_yields_deltas_then_usage(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.will(Behaviour(text="return a + b"))
    chunks = [c async for c in backend(fake_anthropic).stream(chat(stream=True))]
    assert "".join(c.text for c in chunks) == "return a + b"
    assert len([c for c in chunks if c.text]) == 4
    assert chunks[-1].final and chunks[-1].output_tokens == 4
    assert fake_anthropic.last.json()["stream"] is True


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"retry-after": "17"}, "17"), ({}, None), ({"retry-after": "17, <script>x</script>"}, None)],
)
async def test_429_is_rate_limited_with_retry_after(
    fake_anthropic: FakeAnthropic, headers: dict[str, str], expected: str | None
) -> None:
    fake_anthropic.will(Behaviour(kind="status", status=429, headers=headers))
    with pytest.raises(ModelRateLimited) as info:
        await backend(fake_anthropic).generate(chat())
    assert info.value.retry_after == expected
    assert len(fake_anthropic.received) == 1  # no silent retries multiplying load


@pytest.mark.parametrize("kind", ["malformed", "reset"])
async def test_broken_answers_are_model_errors(fake_anthropic: FakeAnthropic, kind: str) -> None:
    fake_anthropic.will(Behaviour(kind=kind))
    with pytest.raises(ModelError) as info:
        await backend(fake_anthropic).generate(chat())
    assert not isinstance(info.value, ModelRateLimited)
    assert KEY not in str(info.value)


async def test_500_is_model_error(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.will(Behaviour(kind="status", status=500))
    with pytest.raises(ModelError) as info:
        await backend(fake_anthropic).generate(chat())
    assert info.value.upstream_status == 500


async def test_slow_first_byte_times_out(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.will(Behaviour(kind="slow", delay_s=1.0))
    with pytest.raises(ModelTimeout):
        await backend(fake_anthropic, first_byte_s=0.3, total_s=0.5).generate(chat())
    fake_anthropic.will(Behaviour(kind="slow", delay_s=1.0))
    with pytest.raises(ModelTimeout):
        async for _ in backend(fake_anthropic, first_byte_s=0.3, total_s=5).stream(chat()):
            pass


async def test_non_streamed_answer_must_start_within_the_first_byte_deadline(
    fake_anthropic: FakeAnthropic,
) -> None:
    """However far the total deadline: no response (status line, headers) within the
    first-byte deadline is a timeout, not a late 200."""
    fake_anthropic.will(Behaviour(kind="slow", delay_s=1.0))
    with pytest.raises(ModelTimeout, match="first-byte"):
        await backend(fake_anthropic, first_byte_s=0.3, total_s=5).generate(chat())


async def test_non_streamed_answer_started_in_time_has_the_total_deadline(
    fake_anthropic: FakeAnthropic,
) -> None:
    # A head within 1 s however loaded the runner (0.3 s was missed there); bodies later.
    fake_anthropic.will(Behaviour(text="return a + b", body_delay_s=1.5))
    result = await backend(fake_anthropic, first_byte_s=1.0, total_s=5).generate(chat())
    assert result.text == "return a + b"
    fake_anthropic.will(Behaviour(body_delay_s=2.5))
    with pytest.raises(ModelTimeout, match="total"):
        await backend(fake_anthropic, first_byte_s=1.0, total_s=1.5).generate(chat())


@pytest.mark.parametrize("kind", ["cut", "reset"])
async def test_stream_cut_midway_is_an_error_not_a_clean_end(
    fake_anthropic: FakeAnthropic, kind: str
) -> None:
    fake_anthropic.will(Behaviour(kind=kind))
    got: list[str] = []
    with pytest.raises(ModelError):
        async for chunk in backend(fake_anthropic).stream(chat()):
            got.append(chunk.text)
    assert got and "".join(got) != "hello there from the fake model"
