"""OpenAICompatBackend through the real `openai` SDK against the OpenAI-compatible fake."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from pydantic import SecretStr

from core.calls import model_request
from core.errors import ModelError, ModelRateLimited, ModelTimeout
from core.model_params import ModelParams
from core.settings import Config
from core.types import Message, ModelRequest, ModelTarget, Sampling
from deployments.backends.openai_compat import DEFAULT_MAX_TOKENS, OpenAICompatBackend
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Behaviour

KEY = "customer-secret-key"


def backend(**timeouts: float) -> OpenAICompatBackend:
    return OpenAICompatBackend(
        Config(custom_models={"enabled": True}, model_timeouts=timeouts).openai_compat_backend()
    )


def target(fake: FakeOpenAI, **params: object) -> ModelTarget:
    """A self-hosted model with its own stop sequence and catalogue `params`."""
    return ModelTarget(
        backend="openai_compat",
        engine="litellm",
        name="codestral",
        identifier="Codestral-22B-v0.1",
        endpoint=fake.url + "/v1/",
        api_key=SecretStr(KEY),
        **ModelParams.model_validate({"stop": ["[PREFIX]"], **params}).target_fields(),
    )


def completion(
    fake: FakeOpenAI, *, stop: Sequence[str] = (), max_tokens: int | None = None
) -> ModelRequest:
    """A call as the gateway builds it."""
    return model_request(
        target(fake),
        prefix="def add(a, b):\n",
        suffix="\n# end",
        stop=stop,
        sampling=Sampling(max_tokens=max_tokens),
    )


def chat(fake: FakeOpenAI) -> ModelRequest:
    messages = [Message(role="system", content="Be brief."), Message(role="user", content="hi")]
    return model_request(target(fake), kind="chat", messages=messages)


async def test_completion_uses_legacy_endpoint_with_prompt_suffix_stop_key(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.will(Behaviour(text="    return a + b"))
    result = await backend().generate(completion(fake_openai, stop=["\n\n"], max_tokens=32))
    assert result.text == "    return a + b"
    sent = fake_openai.last
    assert sent.path == "/v1/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    body = sent.json()
    assert body["model"] == "Codestral-22B-v0.1"
    assert body["prompt"] == "def add(a, b):\n"
    assert body["suffix"] == "\n# end"
    assert body["stop"] == ["\n\n", "[PREFIX]"]
    assert body["max_tokens"] == 32


async def test_fim_format_of_the_model_builds_the_prompt(fake_openai: FakeOpenAI) -> None:
    request = completion(fake_openai)
    request = request.model_copy(
        update={
            "target": target(fake_openai, fim_format="</s>[SUFFIX]{suffix}[PREFIX]{prefix}[MIDDLE]")
        }
    )
    await backend().generate(request)
    body = fake_openai.last.json()
    assert body["prompt"] == "</s>[SUFFIX]\n# end[PREFIX]def add(a, b):\n[MIDDLE]"
    assert "suffix" not in body


async def test_chat_and_stream_with_done(fake_openai: FakeOpenAI) -> None:
    fake_openai.will(Behaviour(text="hello there"))
    result = await backend().generate(chat(fake_openai))
    assert result.text == "hello there"
    assert fake_openai.last.path == "/v1/chat/completions"
    assert fake_openai.last.json()["messages"][0] == {"role": "system", "content": "Be brief."}
    fake_openai.will(Behaviour(text="one two three"))
    chunks = [c async for c in backend().stream(chat(fake_openai))]
    assert [c.text for c in chunks if c.text] == ["one ", "two ", "three"]
    assert chunks[-1].final and chunks[-1].output_tokens == 3


async def test_clients_are_pooled_per_endpoint(fake_openai: FakeOpenAI) -> None:
    be = backend()
    await be.generate(completion(fake_openai))
    await be.generate(chat(fake_openai))
    assert len(be._clients) == 1


@pytest.mark.parametrize(("headers", "expected"), [({"retry-after": "3"}, "3"), ({}, None)])
async def test_429(fake_openai: FakeOpenAI, headers: dict[str, str], expected: str | None) -> None:
    fake_openai.will(Behaviour(kind="status", status=429, headers=headers))
    with pytest.raises(ModelRateLimited) as info:
        await backend().generate(completion(fake_openai))
    assert info.value.retry_after == expected


@pytest.mark.parametrize(
    "behaviour",
    [Behaviour(kind="status", status=500), Behaviour(kind="malformed"), Behaviour(kind="reset")],
)
async def test_upstream_failures_are_model_errors(
    fake_openai: FakeOpenAI, behaviour: Behaviour
) -> None:
    fake_openai.will(behaviour)
    with pytest.raises(ModelError) as info:
        await backend().generate(completion(fake_openai))
    assert type(info.value) is ModelError
    assert KEY not in str(info.value)


async def test_slow_first_byte(fake_openai: FakeOpenAI) -> None:
    fake_openai.will(Behaviour(kind="slow", delay_s=1.0))
    with pytest.raises(ModelTimeout):
        async for _ in backend(first_byte_s=0.3, total_s=5).stream(completion(fake_openai)):
            pass


async def test_non_streamed_answer_must_start_within_the_first_byte_deadline(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.will(Behaviour(kind="slow", delay_s=1.0))
    with pytest.raises(ModelTimeout, match="first-byte"):
        await backend(first_byte_s=0.3, total_s=5).generate(completion(fake_openai))
    # A model whose streaming is turned off answers its streams with one whole answer.
    fake_openai.will(Behaviour(kind="slow", delay_s=1.0))
    whole = OpenAICompatBackend(
        Config(
            custom_models={"enabled": True, "disable_streaming": True},
            model_timeouts={"first_byte_s": 0.3, "total_s": 5},
        ).openai_compat_backend()
    )
    with pytest.raises(ModelTimeout, match="first-byte"):
        async for _ in whole.stream(completion(fake_openai)):
            pass


async def test_non_streamed_answer_started_in_time_has_the_total_deadline(
    fake_openai: FakeOpenAI,
) -> None:
    # A head within 1 s however loaded the runner (0.3 s was missed there); bodies later.
    fake_openai.will(Behaviour(text="return a + b", body_delay_s=1.5))
    result = await backend(first_byte_s=1.0, total_s=5).generate(completion(fake_openai))
    assert result.text == "return a + b"
    fake_openai.will(Behaviour(body_delay_s=2.5))
    with pytest.raises(ModelTimeout):
        await backend(first_byte_s=1.0, total_s=1.5).generate(completion(fake_openai))


@pytest.mark.parametrize("kind", ["cut", "reset"])
async def test_stream_cut_midway(fake_openai: FakeOpenAI, kind: str) -> None:
    fake_openai.will(Behaviour(kind=kind))
    got: list[str] = []
    with pytest.raises(ModelError):
        async for chunk in backend().stream(completion(fake_openai)):
            got.append(chunk.text)
    assert got


async def test_streaming_can_be_disabled_for_custom_models(fake_openai: FakeOpenAI) -> None:
    be = OpenAICompatBackend(
        Config(custom_models={"enabled": True, "disable_streaming": True}).openai_compat_backend()
    )
    chunks = [c async for c in be.stream(completion(fake_openai))]
    assert "".join(c.text for c in chunks) == "hello there from the fake model"
    assert "stream" not in fake_openai.last.json()


async def test_the_backend_sends_the_requests_values_not_the_models(
    fake_openai: FakeOpenAI,
) -> None:
    """Sampling is resolved where the request is built: a backend never falls back to the
    model's own defaults (only to the provider's)."""
    model = target(fake_openai, temperature=0.9, max_tokens=128)
    await backend().generate(ModelRequest(target=model, prefix="x", temperature=0.1))
    body = fake_openai.last.json()
    assert body["temperature"] == 0.1
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS
    assert "stop" not in body and "top_p" not in body
