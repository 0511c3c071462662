"""VertexBackend: Gemini via google-genai, Claude via AnthropicVertex, Codestral FIM via
rawPredict, all against the Vertex fake with a real service-account token exchange."""

from __future__ import annotations

import functools

import pytest

from core.errors import ModelError, ModelRateLimited, ModelTimeout, ModelUnavailable
from core.settings import Config
from core.types import Message, ModelRequest, ModelTarget
from deployments.backends.vertex import VertexBackend
from tests.fakes.google import TOKEN, FakeVertex, service_account_json
from tests.fakes.server import Behaviour


@functools.cache
def key_file(token_uri: str) -> str:
    return service_account_json(token_uri)


def backend(fake: FakeVertex, **timeouts: float) -> VertexBackend:
    return VertexBackend(
        Config(
            google_cloud_platform={
                "project": "fake-project",
                "location": "us-east5",
                "service_account_json_key": key_file(fake.url + "/token"),
            },
            vertex_text_model={"endpoint": fake.url},
            model_timeouts=timeouts,
        ).vertex_backend()
    )


def request(model: str, kind: str = "chat", **kw: object) -> ModelRequest:
    target = ModelTarget(backend="vertex", engine="vertex-ai", name=model, identifier=model)
    if kind == "chat":
        messages = [
            Message(role="system", content="Be brief."),
            Message(role="user", content="hi there"),
        ]
        return ModelRequest(target=target, kind="chat", messages=messages, **kw)  # type: ignore[arg-type]
    return ModelRequest(
        target=target, kind="completion", prefix="def f(x):\n", suffix="\nprint(f(1))", **kw
    )  # type: ignore[arg-type]


MODEL_PATH = "/v1/projects/fake-project/locations/us-east5/publishers/{}/models/{}:{}"


async def test_gemini_generate_and_stream(fake_vertex: FakeVertex) -> None:
    be = backend(fake_vertex)
    fake_vertex.will(Behaviour(text="return x"))
    result = await be.generate(request("gemini-2.5-flash", stop=["\n\n"], max_tokens=50))
    assert result.text == "return x"
    sent = fake_vertex.last
    assert sent.path == MODEL_PATH.format("google", "gemini-2.5-flash", "generateContent")
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    body = sent.json()
    assert body["systemInstruction"]["parts"][0]["text"] == "Be brief."
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hi there"}]}]
    assert body["generationConfig"]["stopSequences"] == ["\n\n"]
    assert body["generationConfig"]["maxOutputTokens"] == 50
    chunks = [c async for c in be.stream(request("gemini-2.5-flash"))]
    assert "".join(c.text for c in chunks) == "hello there from the fake model"
    assert fake_vertex.last.path.endswith(":streamGenerateContent")
    assert fake_vertex.last.query == "alt=sse"


async def test_codestral_fim(fake_vertex: FakeVertex) -> None:
    be = backend(fake_vertex)
    fake_vertex.will(Behaviour(text="    return x + 1"))
    result = await be.generate(request("codestral-2501", kind="completion", stop=["\n\n"]))
    assert result.text == "    return x + 1"
    sent = fake_vertex.last
    assert sent.path == MODEL_PATH.format("mistralai", "codestral-2501", "rawPredict")
    assert sent.json()["prompt"] == "def f(x):\n"
    assert sent.json()["suffix"] == "\nprint(f(1))"
    assert sent.json()["stop"] == ["\n\n"]
    chunks = [c async for c in be.stream(request("codestral-2501", kind="completion"))]
    assert "".join(c.text for c in chunks) == "hello there from the fake model"
    assert fake_vertex.last.path.endswith(":streamRawPredict")


async def test_claude_on_vertex(fake_vertex: FakeVertex) -> None:
    be = backend(fake_vertex)
    result = await be.generate(request("claude-sonnet-4-5@20250929"))
    assert result.text == "hello there from the fake model"
    sent = fake_vertex.last
    assert sent.path == MODEL_PATH.format("anthropic", "claude-sonnet-4-5@20250929", "rawPredict")
    assert sent.json()["system"] == "Be brief."
    chunks = [c async for c in be.stream(request("claude-sonnet-4-5@20250929"))]
    assert "".join(c.text for c in chunks) == "hello there from the fake model"


@pytest.mark.parametrize(
    "model", ["gemini-2.5-flash", "codestral-2501", "claude-sonnet-4-5@20250929"]
)
async def test_errors_per_publisher(fake_vertex: FakeVertex, model: str) -> None:
    be = backend(fake_vertex, first_byte_s=0.3, total_s=0.6)
    fake_vertex.will(Behaviour(kind="status", status=429, headers={"retry-after": "9"}))
    with pytest.raises(ModelRateLimited) as info:
        await be.generate(request(model))
    assert info.value.retry_after == "9"
    for behaviour in (
        Behaviour(kind="status", status=500),
        Behaviour(kind="malformed"),
        Behaviour(kind="reset"),
    ):
        fake_vertex.will(behaviour)
        with pytest.raises(ModelError) as err:
            await be.generate(request(model))
        assert type(err.value) is ModelError
    fake_vertex.will(Behaviour(kind="slow", delay_s=1.0))
    with pytest.raises(ModelTimeout):
        await be.generate(request(model))
    fake_vertex.will(Behaviour(kind="cut"))
    with pytest.raises(ModelError):
        async for _ in be.stream(request(model)):
            pass


@pytest.mark.parametrize(
    "model", ["gemini-2.5-flash", "codestral-2501", "claude-sonnet-4-5@20250929"]
)
async def test_non_streamed_deadlines_per_publisher(fake_vertex: FakeVertex, model: str) -> None:
    """A non-streamed answer's response must start within the first-byte deadline (a late 200
    is a timeout), and once started it has until the total one, whichever SDK calls."""
    be = backend(fake_vertex, first_byte_s=0.3, total_s=5)
    fake_vertex.will(Behaviour(kind="slow", delay_s=1.0))
    with pytest.raises(ModelTimeout, match="first-byte"):
        await be.generate(request(model))
    fake_vertex.will(Behaviour(text="return x", body_delay_s=0.6))
    assert (await be.generate(request(model))).text == "return x"


async def test_missing_credentials_fail_readiness_not_start_up() -> None:
    be = VertexBackend(
        Config(
            google_cloud_platform={"project": "p", "service_account_json_key": "{not json"}
        ).vertex_backend()
    )
    assert await be.check() is False
    with pytest.raises(ModelUnavailable):
        await be.generate(request("gemini-2.5-flash"))
