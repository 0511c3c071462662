"""What an attempt holds at its backend follows the request to a fallback (no Ray): its
priority slot (issue 16) moves, the answer's size admission reserved caps a rebuilt call,
and no breaker probe is held by an attempt that is never made."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.errors import ModelError
from core.types import AssembledPrompt, ModelRequest, ModelResult, ModelTarget
from routing.admission import NO_LIMITS, Admission, InProcessStore, LimitRule, Subject
from routing.admission.priority import PriorityPolicy
from routing.resilience.breaker import PROBE
from routing.resilience.route import Route
from tests.unit.resilience.test_engine import A, B, engine, route, streamer

# One slot at each backend; generations wait at most 0.2 s.
GATES = PriorityPolicy.model_validate(
    {
        "backends": {"a": {"max_ongoing_requests": 1}, "b": {"max_ongoing_requests": 1}},
        "classes": [{"name": "all", "max_wait_s": 0.2}],
    }
)


def subject(user: str) -> Subject:
    return Subject("code_generations", "", (), "", user, "")


async def admitted(admission: Admission, r: Route, user: str = "u1") -> Any:
    """What gateway.admit does: the first target's gate, and the slot made the route's."""
    ticket = await admission.queue_for(NO_LIMITS, "a", subject(user), None, r.candidates)
    r.place = ticket.place
    return ticket


async def test_a_fallback_gives_back_the_first_backends_slot_before_the_fallback_answers() -> None:
    admission = Admission(InProcessStore())
    admission.priorities.configure(GATES)
    gate_a, gate_b = admission.priorities.gate("a"), admission.priorities.gate("b")
    assert gate_a is not None and gate_b is not None
    res, _, _ = engine(retry={"attempts_per_target": 1})
    r = route(A, B)
    ticket = await admitted(admission, r)
    # A second request waits for A's one slot (held by the first).
    queued = asyncio.create_task(admission.queue_for(NO_LIMITS, "a", subject("u2"), None))
    await asyncio.sleep(0)
    assert not queued.done() and gate_a.waiting == 1
    seen: dict[str, Any] = {}

    async def call(request: ModelRequest) -> ModelResult:
        if request.target is A:
            raise ModelError("down", 503)
        for _ in range(3):
            await asyncio.sleep(0)
        seen["queued_got_a"] = queued.done() and queued.exception() is None
        seen["b_in_flight"] = gate_b.in_flight
        return ModelResult(text="from b")

    assert (await res.generate(ModelRequest(target=A), call, r)).text == "from b"
    assert seen == {"queued_got_a": True, "b_in_flight": 1}  # A freed, B's slot held
    ticket.settle()
    assert gate_b.in_flight == 0 and gate_a.in_flight == 1  # the queued request's
    (await queued).settle()
    assert gate_a.in_flight == 0
    admission.close()


async def test_a_saturated_fallback_sheds_and_the_request_reports_the_first_failure() -> None:
    admission = Admission(InProcessStore())
    admission.priorities.configure(GATES)
    gate_a, gate_b = admission.priorities.gate("a"), admission.priorities.gate("b")
    assert gate_a is not None and gate_b is not None
    busy = await admission.queue_for(NO_LIMITS, "b", subject("u9"), None)  # B is full
    res, _, _ = engine(retry={"attempts_per_target": 1})
    r = route(A, B)
    ticket = await admitted(admission, r)
    called: list[str] = []

    async def call(request: ModelRequest) -> ModelResult:
        called.append(request.target.name)
        raise ModelError("down", 503)

    with pytest.raises(ModelError) as failed:
        await res.generate(ModelRequest(target=A), call, r)
    assert failed.value.upstream_status == 503 and called == ["model-a"]
    assert r.record.header() == "served=-; tried=model-a:503,model-b:shed"
    assert gate_a.in_flight == 0 and gate_b.in_flight == 1 and gate_b.waiting == 0
    ticket.settle()
    busy.settle()
    assert gate_b.in_flight == 0
    admission.close()


async def test_an_ungated_first_backend_still_passes_its_fallbacks_gate() -> None:
    admission = Admission(InProcessStore())
    only_b = {"backends": {"b": {"max_ongoing_requests": 1}}}
    admission.priorities.configure(PriorityPolicy.model_validate(only_b))
    gate_b = admission.priorities.gate("b")
    assert gate_b is not None and admission.priorities.guards(route(A, B).candidates)
    res, _, _ = engine(retry={"attempts_per_target": 1})
    r = route(A, B)
    ticket = await admitted(admission, r)
    assert ticket is not NO_LIMITS and r.place is not None and r.place.backend == "a"
    seen: list[int] = []

    async def call(request: ModelRequest) -> ModelResult:
        if request.target is A:
            raise ModelError("down", 503)
        seen.append(gate_b.in_flight)
        return ModelResult(text="b")

    await res.generate(ModelRequest(target=A), call, r)
    assert seen == [1]
    ticket.settle()
    assert gate_b.in_flight == 0
    admission.close()


async def test_a_rebuilt_fallback_call_keeps_the_max_tokens_admission_shrank() -> None:
    res, _, _ = engine(retry={"attempts_per_target": 1})
    r = route(A, B)
    r.max_tokens = 40  # a `shrink` rule left 40 output tokens of the budget

    async def rebuild(target: ModelTarget) -> tuple[ModelRequest, AssembledPrompt]:
        # The fallback's own prompt and parameters: its default asks for 128.
        rebuilt = ModelRequest(target=target, max_tokens=128)
        return rebuilt, AssembledPrompt(request=rebuilt, unit_primitive="x")

    r.rebuild = rebuild
    calls: list[ModelRequest] = []

    async def call(request: ModelRequest) -> ModelResult:
        calls.append(request)
        if request.target is A:
            raise ModelError("down", 503)
        return ModelResult(text="b")

    await res.generate(ModelRequest(target=A, max_tokens=40), call, r)
    assert [c.max_tokens for c in calls] == [40, 40]
    assert r.served_extra.request.max_tokens == 40  # what the flow finishes the answer with


def test_no_probe_is_held_for_a_resume_the_feature_turned_off() -> None:
    res, _, clock = engine(
        retry={"attempts_per_target": 1}, features={"code_generations": {"resume": False}}
    )
    res.breakers.of("model-b").trip(clock.now - 60)  # cooled down: B's next call is its probe
    open_stream, opened = streamer({"model-a": [(["half"], ModelError("cut"))]})

    async def consume() -> list[str]:
        return [c.text async for c in res.stream(ModelRequest(target=A), open_stream, route(A, B))]

    with pytest.raises(ModelError):
        asyncio.run(consume())
    assert [o.target.name for o in opened] == ["model-a"]
    assert res.breakers.admit("model-b", clock.now) == PROBE  # B's probe is still to send


async def test_a_cancel_while_backing_off_gives_the_probe_back() -> None:
    res, _, clock = engine(retry={"backoff_base_s": 1.0, "backoff_max_s": 1.0})
    breaker = res.breakers.of("model-a")
    breaker.trip(clock.now - 60)  # cooled down: the next call is the probe
    never = asyncio.Event()

    async def sleep(seconds: float) -> None:
        await never.wait()  # a backoff the client does not wait out

    res.sleep = sleep

    async def failing(request: ModelRequest) -> ModelResult:
        breaker.trip(clock.now - 60)  # failed, and cooled down at once: the retry probes too
        raise ModelError("x", 503)

    task = asyncio.create_task(res.generate(ModelRequest(target=A), failing, route(A)))
    for _ in range(5):
        await asyncio.sleep(0)
    assert breaker.probing  # the retry's probe, taken before its backoff
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not breaker.probing


async def test_a_fallback_falls_under_the_limit_rules_of_its_own_model() -> None:
    admission = Admission(InProcessStore())
    # One call a minute to model-b (a scarce self-hosted model, say), tokens counted; no
    # rule selects model-a, where the requests start.
    b_only = LimitRule(
        name="b-rpm", match={"model": "model-b"}, requests_per_minute=1, tokens_per_minute=1000
    )
    admission.configure([b_only])
    res, _, _ = engine(retry={"attempts_per_target": 1})
    called: list[str] = []

    async def call(request: ModelRequest) -> ModelResult:
        called.append(request.target.name)
        if request.target is A:
            raise ModelError("down", 503)
        return ModelResult(text="b")

    on_a = Subject("code_generations", "", ("model-a", "model-a"), "", "u1", "")
    records = []
    for _ in range(2):
        r = route(A, B)
        ticket = await admission.admit(on_a, lambda: 3, 200)
        ticket = await admission.queue_for(ticket, "a", on_a, 200, r.candidates)
        r.place = ticket.place
        try:
            await res.generate(ModelRequest(target=A, max_tokens=200), call, r)
        except ModelError as exc:
            assert exc.upstream_status == 503  # the failure that moved it
        records.append(r.record.header())
        if len(records) == 1:
            assert ticket.output_cap == 200  # a stream from model-b is cut at its reservation
        ticket.settle(10)
    assert called == ["model-a", "model-b", "model-a"]  # model-b's one call a minute
    assert records == [
        "served=model-b; tried=model-a:503; fallback=1",
        "served=-; tried=model-a:503,model-b:shed",
    ]
    admission.close()
