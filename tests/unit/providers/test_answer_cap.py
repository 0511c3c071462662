"""A provider's answer is bounded by what was asked for (`AIGW_LIMITS__ANSWER__*`): a runaway
answer for `max_tokens: 64` is refused or cut, never passed through nor buffered whole."""

from __future__ import annotations

import pytest

from core.errors import ModelError
from core.settings import Config
from deployments.backends.common import STREAM_FRAMING
from deployments.backends.openai_compat import OpenAICompatBackend
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Behaviour
from tests.unit.providers.test_anthropic_backend import backend as anthropic_backend
from tests.unit.providers.test_anthropic_backend import chat as anthropic_chat
from tests.unit.providers.test_openai_compat_backend import completion

CAP = 64 * 1024  # the floor: 64 tokens x 64 bytes is less
RUNAWAY = "x" * (4 * 1024 * 1024)  # 4 MB for max_tokens 64


def openai_backend() -> OpenAICompatBackend:
    return OpenAICompatBackend(Config(custom_models={"enabled": True}).openai_compat_backend())


@pytest.mark.parametrize("sized", [True, False], ids=["content-length", "chunked"])
async def test_a_runaway_non_streamed_answer_is_refused(
    fake_openai: FakeOpenAI, sized: bool
) -> None:
    fake_openai.will(Behaviour(text=RUNAWAY, sized=sized))
    with pytest.raises(ModelError, match=f"answer exceeds {CAP} bytes"):
        await openai_backend().generate(completion(fake_openai, max_tokens=64))
    # An answer of the size asked for still passes.
    fake_openai.will(Behaviour(text="y" * 4000, sized=sized))
    result = await openai_backend().generate(completion(fake_openai, max_tokens=64))
    assert result.text == "y" * 4000


async def test_a_runaway_stream_is_cut_after_the_cap(fake_openai: FakeOpenAI) -> None:
    fake_openai.will(Behaviour(pieces=("x" * 1000,) * 4000))  # 4 MB in 1 KB events
    got = 0
    with pytest.raises(ModelError, match=f"answer exceeds {CAP} characters"):
        async for chunk in openai_backend().stream(completion(fake_openai, max_tokens=64)):
            got += len(chunk.text)
    assert got <= CAP


async def test_one_giant_stream_event_is_cut_on_the_wire(fake_openai: FakeOpenAI) -> None:
    fake_openai.will(Behaviour(pieces=(RUNAWAY,)))  # a single 4 MB SSE event
    with pytest.raises(ModelError, match=f"answer exceeds {CAP * STREAM_FRAMING} bytes"):
        async for chunk in openai_backend().stream(completion(fake_openai, max_tokens=64)):
            assert not chunk.text


async def test_the_anthropic_sdk_is_held_to_the_cap_too(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.will(Behaviour(text=RUNAWAY))  # for max_tokens 64
    with pytest.raises(ModelError, match=f"answer exceeds {CAP} bytes"):
        await anthropic_backend(fake_anthropic).generate(anthropic_chat())
