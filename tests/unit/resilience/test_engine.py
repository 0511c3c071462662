"""The attempt loop over scripted calls (no Ray, no network): what the caller gets and what
the route record says."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.errors import BadRequestError, ModelError, ModelRateLimited
from core.types import Chunk, Message, ModelRequest, ModelResult, ModelTarget
from observability.metrics import MemoryMetrics
from routing.resilience.engine import Resilience
from routing.resilience.metrics import RoutingMetrics
from routing.resilience.policy import RoutingPolicy
from routing.resilience.route import Route

A = ModelTarget(backend="a", engine="a", name="model-a", identifier="model-a")
B = ModelTarget(backend="b", engine="b", name="model-b", identifier="model-b")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def engine(**policy: Any) -> tuple[Resilience, MemoryMetrics, Clock]:
    clock, store = Clock(), MemoryMetrics()
    res = Resilience(
        RoutingPolicy.model_validate(policy), RoutingMetrics(store), clock=clock, sleep=clock.sleep
    )
    return res, store, clock


def route(*targets: ModelTarget, feature: str = "code_generations") -> Route:
    return Route(feature, [(t.name, t) for t in targets])


def script(outcomes: dict[str, list[Any]]):  # type: ignore[no-untyped-def]
    calls: list[ModelRequest] = []

    async def call(request: ModelRequest) -> ModelResult:
        calls.append(request)
        outcome = outcomes[request.target.name].pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return ModelResult(text=outcome)

    return call, calls


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_falls_back_after_retries_and_says_so() -> None:
    res, store, _ = engine()
    call, calls = script({"model-a": [ModelError("x", 503)] * 2, "model-b": ["from b"]})
    r = route(A, B)
    result = run(res.generate(ModelRequest(target=A), call, r))
    assert result.text == "from b" and r.served_target is B
    assert [c.target.name for c in calls] == ["model-a", "model-a", "model-b"]
    assert r.record.header() == "served=model-b; tried=model-a:503,model-a:503; fallback=1"
    assert store.total("model_fallbacks_total", **{"from": "model-a", "to": "model-b"}) == 1
    assert store.total("model_retries_total", target="model-a") == 1


def test_an_explicit_choice_is_retried_on_itself_only() -> None:
    res, _, _ = engine()
    call, calls = script({"model-a": [ModelError("x", 503)] * 2})
    with pytest.raises(ModelError):
        run(res.generate(ModelRequest(target=A), call, route(A)))
    assert {c.target.name for c in calls} == {"model-a"} and len(calls) == 2


def test_a_bad_request_is_not_retried_nor_moved() -> None:
    res, _, _ = engine()
    call, calls = script({"model-a": [ModelError("bad", 400)], "model-b": ["no"]})
    with pytest.raises(ModelError):
        run(res.generate(ModelRequest(target=A), call, route(A, B)))
    assert len(calls) == 1
    call, calls = script({"model-a": [BadRequestError("x")]})
    with pytest.raises(BadRequestError):
        run(res.generate(ModelRequest(target=A), call, route(A, B)))


def test_retry_after_within_the_cap_is_waited_for_above_it_goes_to_the_client() -> None:
    res, _, clock = engine()
    call, _ = script({"model-a": [ModelRateLimited("x", "1"), "ok"]})
    assert run(res.generate(ModelRequest(target=A), call, route(A))).text == "ok"
    assert clock.slept and clock.slept[0] >= 1.0
    call, calls = script({"model-a": [ModelRateLimited("x", "30")]})
    with pytest.raises(ModelRateLimited) as limited:
        run(res.generate(ModelRequest(target=A), call, route(A)))
    assert limited.value.retry_after == "30" and len(calls) == 1


def test_retry_budget_stops_a_retry_storm() -> None:
    res, store, _ = engine(retry={"budget_floor": 0, "budget_ratio": 0.2})
    failures = [ModelError("x", 503)] * 1000
    call, calls = script({"model-a": failures})
    for _ in range(50):
        with pytest.raises(ModelError):
            run(res.generate(ModelRequest(target=A), call, route(A)))
    assert len(calls) <= 50 * 1.2 + 1  # load multiplier bounded by the budget
    assert store.total("retry_budget_exhausted_total", target="model-a") > 0


def test_an_open_breaker_sends_nothing_and_falls_back() -> None:
    res, store, _ = engine(breaker={"consecutive_failures": 2})
    call, calls = script({"model-a": [ModelError("x", 503)] * 2, "model-b": ["b1", "b2"]})
    run(res.generate(ModelRequest(target=A), call, route(A, B)))
    r = route(A, B)
    assert run(res.generate(ModelRequest(target=A), call, r)).text == "b2"
    assert [c.target.name for c in calls].count("model-a") == 2
    assert "breaker=model-a:open" in r.record.header()
    assert store.total("circuit_breaker_state", target="model-a") == 2  # open


def test_total_deadline_bounds_every_attempt() -> None:
    res, _, _ = engine(deadlines={"total_s": 3.0}, features={})
    call, calls = script({"model-b": ["ok"]})
    run(res.generate(ModelRequest(target=B), call, route(B, feature="duo_chat")))
    timeouts = calls[0].timeouts
    assert timeouts.max_total_s is not None and timeouts.max_total_s <= 3.0
    assert timeouts.stall_s == 15.0 and timeouts.max_first_byte_s == 3.0


def test_policy_off_is_one_plain_call() -> None:
    res, _, _ = engine(enabled=False)
    call, calls = script({"model-a": [ModelError("x", 503)], "model-b": ["no"]})
    with pytest.raises(ModelError):
        run(res.generate(ModelRequest(target=A), call, route(A, B)))
    assert len(calls) == 1


def streamer(scripts: dict[str, list[tuple[list[str], BaseException | None]]]):  # type: ignore[no-untyped-def]
    opened: list[ModelRequest] = []

    async def open_stream(request: ModelRequest) -> AsyncIterator[Chunk]:
        opened.append(request)
        pieces, error = scripts[request.target.name].pop(0)
        for piece in pieces:
            yield Chunk(text=piece)
        if error is not None:
            raise error
        yield Chunk(text="", final=True)

    return open_stream, opened


async def collect(stream: AsyncIterator[Chunk]) -> str:
    return "".join([c.text async for c in stream])


def test_stream_cut_after_content_resumes_on_the_fallback_without_duplicates() -> None:
    res, store, _ = engine(retry={"attempts_per_target": 1})
    open_stream, opened = streamer(
        {
            "model-a": [(["def add(a, ", "b):"], ModelError("cut"))],
            "model-b": [(["\n    return a + b"], None)],
        }
    )
    request = ModelRequest(target=A, kind="completion", prefix="# add\n")
    r = route(A, B)
    assert run(collect(res.stream(request, open_stream, r))) == "def add(a, b):\n    return a + b"
    assert opened[1].prefix == "# add\ndef add(a, b):"  # continued, not restarted
    assert "resume=1" in r.record.header()
    assert store.total("model_stream_resumes_total") == 1


def test_chat_resume_is_an_assistant_prefill_and_drops_the_repeated_space() -> None:
    res, _, _ = engine()
    open_stream, opened = streamer(
        {"model-a": [(["Hello ", "wor"], ModelError("stall")), ([" and", "ld!"], None)]}
    )
    request = ModelRequest(target=A, kind="chat", messages=[Message(role="user", content="hi")])
    text = run(collect(res.stream(request, open_stream, route(A))))
    assert opened[1].messages[-1] == Message(role="assistant", content="Hello wor")
    assert text == "Hello wor andld!"  # what the model wrote next, spliced as it came


def test_stream_failing_before_content_is_a_clean_fallback() -> None:
    res, _, _ = engine()
    open_stream, _ = streamer(
        {"model-a": [([], ModelError("x", 529))] * 2, "model-b": [(["clean"], None)]}
    )
    r = route(A, B)
    assert run(collect(res.stream(ModelRequest(target=A), open_stream, r))) == "clean"
    assert r.record.header().startswith("served=model-b; tried=model-a:529,model-a:529")


def test_stream_with_nothing_left_to_try_fails_after_its_content() -> None:
    res, _, _ = engine(retry={"attempts_per_target": 1})
    open_stream, _ = streamer({"model-a": [(["half"], ModelError("cut"))]})
    got: list[str] = []

    async def consume() -> None:
        async for chunk in res.stream(ModelRequest(target=A), open_stream, route(A)):
            got.append(chunk.text)

    with pytest.raises(ModelError):
        run(consume())
    assert got == ["half"]
