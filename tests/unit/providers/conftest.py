"""Provider fakes, one per test module, reset between tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.google import FakeVertex
from tests.fakes.openai import FakeOpenAI


@pytest.fixture(scope="module")
def anthropic_server() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic().serve()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def openai_server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().serve()
    yield fake
    fake.close()


@pytest.fixture
def fake_anthropic(anthropic_server: FakeAnthropic) -> FakeAnthropic:
    anthropic_server.reset()
    return anthropic_server


@pytest.fixture
def fake_openai(openai_server: FakeOpenAI) -> FakeOpenAI:
    openai_server.reset()
    return openai_server


@pytest.fixture(scope="module")
def vertex_server() -> Iterator[FakeVertex]:
    fake = FakeVertex().serve()
    yield fake
    fake.close()


@pytest.fixture
def fake_vertex(vertex_server: FakeVertex) -> FakeVertex:
    vertex_server.reset()
    return vertex_server
