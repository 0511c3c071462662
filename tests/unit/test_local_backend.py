"""The embedded llama.cpp backend with the real SmolLM2-135M model (small: tests stay fast)."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator

import pytest

pytest.importorskip("llama_cpp")

from core.errors import BadRequestError, ModelUnavailable
from core.settings import LocalModelSettings
from core.types import Chunk, Message, ModelRequest, ModelResult, ModelTarget
from deployments.backends.llama_engine import FimTokens, default_threads, longest_partial_stop
from deployments.backends.local import LocalBackend
from deployments.suggestions.tokenizer import default_tokenizer

TARGET = ModelTarget(backend="local", engine="llama.cpp", name="SmolLM2-135M-Instruct.Q4_1")
PREFIX = "def fibonacci(n):\n"


def completion(**kw: object) -> ModelRequest:
    """A completion request, greedy (temperature 0) unless the test says otherwise."""
    return ModelRequest.model_validate(
        {"target": TARGET, "prefix": PREFIX, "temperature": 0.0, **kw}
    )


@pytest.fixture(scope="module")
async def backend() -> AsyncIterator[LocalBackend]:
    b = LocalBackend(LocalModelSettings())
    await b.wait_loaded(60)
    yield b
    b.close()


async def collect(stream: AsyncIterator[Chunk]) -> list[Chunk]:
    return [chunk async for chunk in stream]


async def test_not_ready_until_loaded_and_a_missing_model_never_becomes_ready(tmp_path) -> None:  # type: ignore[no-untyped-def]
    b = LocalBackend(LocalModelSettings(path=str(tmp_path / "missing.gguf")))
    assert await b.check() is False
    with pytest.raises(ModelUnavailable, match="failed to load"):
        await b.generate(completion(max_tokens=2))
    assert await b.check() is False
    b.close()


async def test_check_turns_true_once_the_model_is_loaded_and_loading_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="aigw.local_model")
    b = LocalBackend()
    assert await b.check() is False  # loading takes far longer than this line
    await b.wait_loaded(60)
    assert await b.check() is True
    messages = [r.getMessage() for r in caplog.records if r.name == "aigw.local_model"]
    assert any(m.startswith("local model: loading") and ".gguf" in m for m in messages)
    assert any("weights loaded" in m and "prefix-only" in m for m in messages)
    assert any(m.startswith("local model: ready in") for m in messages)
    b.close()


async def test_prompts_are_evaluated_on_as_many_threads_as_generation(
    backend: LocalBackend,
) -> None:
    # Not on every core: beside the rest of the gateway that stalls prompt evaluation.
    engine = backend.engine
    assert engine is not None
    assert engine.llama.context_params.n_threads_batch == engine.llama.n_threads >= 1
    assert engine.llama.n_threads == default_threads()


async def test_completion_returns_text_with_real_token_counts(backend: LocalBackend) -> None:
    result = await backend.generate(completion(max_tokens=12))
    assert result.text.strip()
    assert result.input_tokens == default_tokenizer().count(PREFIX)
    assert 0 < result.output_tokens <= 12


async def test_max_tokens_is_honoured_exactly(backend: LocalBackend) -> None:
    result = await backend.generate(completion(max_tokens=5))
    assert result.output_tokens == 5
    assert result.finish_reason == "length"
    assert default_tokenizer().count(result.text) <= 6  # re-tokenising may merge or split one


async def test_stop_sequence_cuts_the_text_before_it(backend: LocalBackend) -> None:
    full = (await backend.generate(completion(max_tokens=24))).text
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    assert stop.strip(), f"pick a visible stop from {full!r}"
    cut = await backend.generate(completion(max_tokens=24, stop=[stop]))
    assert cut.text == full[: full.index(stop)]
    assert cut.finish_reason == "stop"
    assert cut.output_tokens < 24


async def test_stream_yields_pieces_before_the_end_matching_the_whole_answer(
    backend: LocalBackend,
) -> None:
    whole = await backend.generate(completion(max_tokens=16))
    arrivals: list[float] = []
    chunks: list[Chunk] = []
    started = time.perf_counter()
    async for chunk in backend.stream(completion(max_tokens=16, stream=True)):
        arrivals.append(time.perf_counter() - started)
        chunks.append(chunk)
    texts = [c for c in chunks if not c.final]
    assert len(texts) >= 5
    assert arrivals[0] < arrivals[-1]  # the first piece came before the last
    assert "".join(c.text for c in chunks) == whole.text
    final = chunks[-1]
    assert final.final and final.output_tokens == 16
    assert final.input_tokens == whole.input_tokens


async def test_streamed_text_never_shows_the_stop_sequence(backend: LocalBackend) -> None:
    full = (await backend.generate(completion(max_tokens=24))).text
    stop = full[len(full) // 2 : len(full) // 2 + 4]
    chunks = await collect(backend.stream(completion(max_tokens=24, stop=[stop], stream=True)))
    text = "".join(c.text for c in chunks)
    assert text == full[: full.index(stop)]
    assert chunks[-1].finish_reason == "stop"


def engine_results(backend: LocalBackend, monkeypatch: pytest.MonkeyPatch) -> list[ModelResult]:
    """What each of the engine's runs returned, in order (how a run ended: cancelled, length)."""
    engine = backend.engine
    assert engine is not None
    results: list[ModelResult] = []
    run = engine.run

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        results.append(run(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(engine, "run", spy)
    return results


async def test_closing_a_stream_stops_generation(
    backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = engine_results(backend, monkeypatch)
    stream = backend.stream(completion(max_tokens=1000, stream=True))
    seen = [await anext(stream) for _ in range(3)]
    assert all(c.text for c in seen)
    await stream.aclose()  # what a client disconnect does to the replica's generator
    started = time.perf_counter()
    quick = await backend.generate(completion(max_tokens=1))
    assert quick.output_tokens == 1
    assert time.perf_counter() - started < 5  # 1000 tokens would take several seconds
    cancelled = results[0]
    assert cancelled.finish_reason == "cancelled"
    assert cancelled.output_tokens < 100


async def test_cancelled_request_stops_generation(backend: LocalBackend) -> None:
    task = asyncio.create_task(backend.generate(completion(max_tokens=1000)))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    started = time.perf_counter()
    await backend.generate(completion(max_tokens=1))
    assert time.perf_counter() - started < 5


async def test_a_slow_consumer_gets_queued_pieces_joined_in_order_with_none_lost(
    backend: LocalBackend,
) -> None:
    whole = await backend.generate(completion(max_tokens=40))
    stream = backend.stream(completion(max_tokens=40, stream=True))
    first = await anext(stream)
    assert first.text and not first.final
    await asyncio.sleep(0.4)  # the model keeps generating meanwhile (~20-50 ms a token)
    rest = await collect(stream)
    texts = [first.text] + [c.text for c in rest if not c.final]
    assert "".join(texts) == whole.text  # same pieces, same order, nothing dropped or doubled
    assert len(texts[1]) > len(first.text) and len(texts) < whole.output_tokens
    assert rest[-1].final and rest[-1].output_tokens == 40


async def test_cancelling_a_task_reading_a_stream_stops_generation(
    backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = engine_results(backend, monkeypatch)
    seen: list[Chunk] = []

    async def read() -> None:
        async for chunk in backend.stream(completion(max_tokens=1000, stream=True)):
            seen.append(chunk)

    task = asyncio.create_task(read())
    while len(seen) < 2:
        await asyncio.sleep(0.01)
    task.cancel()  # what Ray does to the replica's call when the ingress cancels it
    with pytest.raises(asyncio.CancelledError):
        await task
    started = time.perf_counter()
    await backend.generate(completion(max_tokens=1))
    assert time.perf_counter() - started < 5
    assert results[0].finish_reason == "cancelled" and results[0].output_tokens < 100


async def test_chat_uses_the_models_chat_template(backend: LocalBackend) -> None:
    content = "Write a Python function that adds two numbers."
    request = ModelRequest(
        target=TARGET,
        kind="chat",
        messages=[Message(role="user", content=content)],
        max_tokens=16,
        temperature=0.0,
    )
    result = await backend.generate(request)
    assert result.text.strip()
    assert "<|im_start|>" not in result.text and "<|im_end|>" not in result.text
    # The template's role markers and generation prompt count as input tokens.
    assert result.input_tokens > default_tokenizer().count(content) + 4


async def test_concurrent_requests_are_served_one_after_another(backend: LocalBackend) -> None:
    results = await asyncio.gather(*(backend.generate(completion(max_tokens=4)) for _ in range(3)))
    assert [r.output_tokens for r in results] == [4, 4, 4]
    assert len({r.text for r in results}) == 1  # greedy and isolated: no state leaks between


async def test_prompt_longer_than_the_context_keeps_the_text_nearest_the_cursor() -> None:
    b = LocalBackend(LocalModelSettings(context_length=256))
    engine = await b.wait_loaded(60)
    assert engine.n_ctx == 256
    long_prefix = "x = 1\n" * 400 + PREFIX
    result = await b.generate(completion(prefix=long_prefix, max_tokens=8))
    assert result.input_tokens == 256 - 8
    assert result.output_tokens == 8
    with pytest.raises(BadRequestError, match="context allows"):
        await b.generate(
            ModelRequest(
                target=TARGET,
                kind="chat",
                messages=[Message(role="user", content=long_prefix)],
                max_tokens=8,
            )
        )
    b.close()


async def test_temperature_changes_sampling(backend: LocalBackend) -> None:
    greedy = {(await backend.generate(completion(max_tokens=12))).text for _ in range(2)}
    assert len(greedy) == 1
    hot = {
        (await backend.generate(completion(max_tokens=12, temperature=1.5))).text for _ in range(4)
    }
    assert len(hot) > 1


async def test_fill_in_the_middle_prompt_for_a_vocabulary_with_fim_tokens(
    backend: LocalBackend,
) -> None:
    engine = copy.copy(backend.engine)
    assert engine is not None and engine.fim is None  # SmolLM2 has no FIM tokens
    engine.fim = FimTokens(prefix=10, suffix=11, middle=12)  # as a FIM vocabulary reports them
    tok = default_tokenizer()
    request = completion(prefix="def f(x):\n    ", suffix="\n    return y\n")
    tokens, _ = engine.prompt(request, max_tokens=16)
    assert tokens == [10, *tok.encode(request.prefix), 11, *tok.encode(request.suffix), 12]
    # Over budget: the prefix keeps its end, the suffix its start, within the context.
    long = completion(prefix="a = 1\n" * 2000 + "def f(x):\n", suffix="    return x\n" * 2000)
    tokens, _ = engine.prompt(long, max_tokens=16)
    assert len(tokens) == engine.n_ctx - 16
    assert tokens[0] == 10 and tokens[-1] == 12
    split = tokens.index(11)
    assert tok.decode(tokens[1:split]).endswith("def f(x):\n")
    assert tok.decode(tokens[split + 1 : -1]).startswith("    return x\n")
    # Without a suffix, FIM is pointless: the prompt is the prefix alone.
    assert engine.prompt(completion(prefix="x = "), 16)[0] == tok.encode("x = ")


def test_partial_stop_sequences_are_held_back() -> None:
    assert longest_partial_stop("foo\n", ["\n\n"]) == 1
    assert longest_partial_stop("foo```", ["````"]) == 3
    assert longest_partial_stop("foo", ["\n\n", "END"]) == 0
    assert longest_partial_stop("xEN", ["\n\n", "END"]) == 2
