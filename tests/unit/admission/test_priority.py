"""Priority classes in front of a saturated backend (issue 16, item 5): plain classes, no Ray."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import ValidationError

from core.errors import RateLimitExceeded
from observability.metrics import MemoryMetrics
from routing.admission import Admission, InProcessStore, LimitRule, Subject
from routing.admission.metrics import AdmissionMetrics
from routing.admission.priority import PriorityGate, PriorityPolicy, Shed, Slot
from serve_app.api.error_policy import error_response
from serve_app.user_config import IngressUserConfig


def policy(max_ongoing: int = 1, **extra: object) -> PriorityPolicy:
    return PriorityPolicy.model_validate(
        {"backends": {"local": {"max_ongoing_requests": max_ongoing}}, **extra}
    )


async def settle_loop() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_completions_jump_the_queue_of_a_saturated_backend() -> None:
    gate = PriorityGate("local", policy())
    held = await gate.enter("duo_chat", "i1")  # the backend's one slot
    served: list[str] = []

    async def call(feature: str, tenant: str) -> None:
        slot = await gate.enter(feature, tenant)
        served.append(feature)
        await asyncio.sleep(0)
        slot.release()

    tasks = [asyncio.create_task(call("duo_chat", "i1")) for _ in range(3)]
    await settle_loop()
    tasks.append(asyncio.create_task(call("code_generations", "i1")))
    tasks.append(asyncio.create_task(call("code_completions", "i1")))
    await settle_loop()
    assert gate.depth() == {"completions": 1, "generations": 1, "chat": 3}
    held.release()
    await asyncio.gather(*tasks)
    assert served == ["code_completions", "code_generations", "duo_chat", "duo_chat", "duo_chat"]
    assert gate.in_flight == 0 and gate.waiting == 0


async def test_a_flood_of_completions_slows_chat_but_never_starves_it() -> None:
    gate = PriorityGate("local", policy())
    held = await gate.enter("code_completions", "i")
    served: list[str] = []

    async def call(feature: str) -> None:
        slot = await gate.enter(feature, "i")
        served.append(feature)
        await asyncio.sleep(0)
        slot.release()

    tasks = [asyncio.create_task(call("code_completions")) for _ in range(20)]
    await settle_loop()
    for _ in range(3):  # chat keeps arriving behind the completions
        tasks.append(asyncio.create_task(call("duo_chat")))
        await settle_loop()
    tasks += [asyncio.create_task(call("code_completions")) for _ in range(30)]
    await settle_loop()
    held.release()
    await asyncio.gather(*tasks)
    chats = [i for i, f in enumerate(served) if f == "duo_chat"]
    # Weights 16:1: about one chat per 16 completions while both wait, not none until the end.
    assert chats[0] <= 16 and chats[1] <= 34, chats
    assert served[:3] == ["code_completions"] * 3


async def test_within_a_class_tenants_take_turns() -> None:
    gate = PriorityGate("local", policy())
    held = await gate.enter("code_completions", "big")
    order: list[str] = []

    async def call(tenant: str) -> None:
        slot = await gate.enter("code_completions", tenant)
        order.append(tenant)
        await asyncio.sleep(0)
        slot.release()

    tasks = [asyncio.create_task(call("big")) for _ in range(6)]
    await settle_loop()
    tasks += [asyncio.create_task(call("small")) for _ in range(2)]
    await settle_loop()
    held.release()
    await asyncio.gather(*tasks)
    # One instance's burst of six does not push the other's two to the back.
    assert order == ["big", "small", "big", "small", "big", "big", "big", "big"]


async def test_a_request_that_would_wait_past_its_class_deadline_is_shed_with_a_429() -> None:
    metrics = MemoryMetrics()
    classes = [{"name": "completions", "features": ["code_completions"], "max_wait_s": 0.05},
               {"name": "chat", "max_wait_s": 0}]  # fmt: skip
    gate = PriorityGate("local", policy(classes=classes), AdmissionMetrics(metrics))
    held = await gate.enter("code_completions", "i1")
    for _ in range(4):  # a drain rate to compute Retry-After from
        held.release()
        held = await gate.enter("code_completions", "i1")
    started = asyncio.get_running_loop().time()
    with pytest.raises(Shed) as waited:
        await gate.enter("code_completions", "i2")
    assert 0.04 < asyncio.get_running_loop().time() - started < 0.5
    with pytest.raises(Shed) as unqueued:
        await gate.enter("duo_chat", "i2")  # max_wait_s 0: shed without queueing
    assert gate.waiting == 0 and gate.in_flight == 1
    response = error_response(waited.value)
    assert response.status_code == 429
    assert json.loads(bytes(response.body)) == {
        "detail": "Backend 'local' is saturated: request of class 'completions' shed"
    }
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert unqueued.value.rule == "priority:chat"
    assert metrics.total("admission_shed_total", reason="timeout", **{"class": "completions"}) == 1
    assert metrics.total("admission_shed_total", reason="saturated") == 1


async def test_a_full_queue_sheds_the_lowest_class_first() -> None:
    gate = PriorityGate("local", policy(max_queue=2))
    await gate.enter("duo_chat", "i1")
    chats = [asyncio.create_task(gate.enter("duo_chat", t)) for t in ("a", "a")]
    await settle_loop()
    completion = asyncio.create_task(gate.enter("code_completions", "b"))
    await settle_loop()
    assert gate.depth() == {"completions": 1, "generations": 0, "chat": 1}
    displaced = [t for t in chats if t.done()]
    assert len(displaced) == 1 and isinstance(displaced[0].exception(), Shed)
    with pytest.raises(Shed):  # a full queue of requests that outrank it: shed at once
        await gate.enter("duo_chat", "c")
    for task in (*chats, completion):
        task.cancel()
    await asyncio.gather(*chats, completion, return_exceptions=True)
    assert gate.waiting == 0


async def test_capacity_follows_the_backend_and_ingress_replica_counts() -> None:
    gate = PriorityGate("local", policy(max_ongoing=2))
    gate.scale(backend_replicas=1, ingress_replicas=2)
    assert gate.capacity == 1  # this replica's share of one backend replica
    first = await gate.enter("duo_chat", "i")
    waiting = asyncio.create_task(gate.enter("duo_chat", "i"))
    await settle_loop()
    assert not waiting.done()
    gate.scale(backend_replicas=3, ingress_replicas=2)  # autoscaling added replicas
    await settle_loop()
    assert waiting.done() and gate.capacity == 3 and gate.in_flight == 2
    third = await gate.enter("duo_chat", "i")  # room for a third at once
    fourth = asyncio.create_task(gate.enter("duo_chat", "i"))
    await settle_loop()
    gate.scale(backend_replicas=1, ingress_replicas=2)  # and took them away again
    first.release()  # 3 in flight, 1 allowed: freed slots are not passed on
    waiting.result().release()
    await settle_loop()
    assert not fourth.done() and gate.in_flight == 1
    third.release()
    await settle_loop()
    assert fourth.done() and gate.in_flight == 1
    fourth.result().release()
    assert gate.in_flight == 0


async def test_a_client_gone_while_waiting_leaves_no_slot_behind() -> None:
    gate = PriorityGate("local", policy())
    held = await gate.enter("duo_chat", "i")
    waiter = asyncio.create_task(gate.enter("duo_chat", "i"))
    await settle_loop()
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert gate.waiting == 0
    handed = asyncio.create_task(gate.enter("duo_chat", "i"))
    await settle_loop()
    held.release()  # the slot is handed over ...
    handed.cancel()  # ... to a request cancelled before it could run
    await asyncio.gather(handed, return_exceptions=True)
    assert gate.in_flight == 0


SUBJECT = Subject("duo_chat", "duo_chat", ("m",), "saas", "u1", "i1")


async def test_the_admission_step_holds_the_slot_until_the_ticket_settles() -> None:
    admission = Admission(InProcessStore())
    admission.configure([LimitRule(name="rpm", requests_per_minute=2)])
    admission.priorities.configure(policy())
    gate = admission.priorities.gate("local")
    assert gate is not None and admission.priorities.gate("anthropic") is None
    ticket = await admission.admit(SUBJECT, lambda: 0, None)
    ticket = await admission.queue_for(ticket, "local", SUBJECT, None)
    assert gate.in_flight == 1
    with pytest.raises(Shed) as shed:  # chat waits at most 10 s by default: make it short
        await asyncio.wait_for(_queued(admission), 0.2)
    assert shed.value.headers["RateLimit-Policy"] == '"rpm";q=2;w=60'
    await ticket.release()
    assert gate.in_flight == 0
    # The shed request gave its request back: the second of two is still there.
    second = await admission.queue_for(await admission.admit(SUBJECT, lambda: 0, None),
                                       "local", SUBJECT, None)  # fmt: skip
    await second.release()
    with pytest.raises(RateLimitExceeded):
        await admission.admit(SUBJECT, lambda: 0, None)
    admission.close()


async def _queued(admission: Admission) -> None:
    gate = admission.priorities.gate("local")
    assert gate is not None
    gate.configure(policy(classes=[{"name": "all", "max_wait_s": 0.05}]))
    ticket = await admission.admit(SUBJECT, lambda: 0, None)
    await admission.queue_for(ticket, "local", SUBJECT, None)


async def test_no_rules_still_gets_a_ticket_of_its_own_for_the_slot() -> None:
    admission = Admission(InProcessStore())
    admission.priorities.configure(policy())
    ticket = await admission.queue_for(await admission.admit(SUBJECT, lambda: 0, 64),
                                       "local", SUBJECT, 64)  # fmt: skip
    assert ticket.max_tokens == 64 and isinstance(ticket._slot, Slot)
    ticket.settle()
    gate = admission.priorities.gate("local")
    assert gate is not None and gate.in_flight == 0
    admission.close()


def test_the_priority_block_is_validated_and_reloads_in_place() -> None:
    parsed = IngressUserConfig.parse(
        {"priority": {"backends": {"local": {"max_ongoing_requests": 64}}}}
    )
    assert [c.name for c in parsed.priority.classes] == ["completions", "generations", "chat"]
    with pytest.raises(ValidationError, match="distinct"):
        IngressUserConfig.parse({"priority": {"classes": [{"name": "a"}, {"name": "a"}]}})
    with pytest.raises(ValidationError):
        IngressUserConfig.parse({"priority": {"backends": {"local": {"max_ongoing_requests": 0}}}})


async def test_a_reload_keeps_waiters_and_dropping_a_backend_lets_them_through() -> None:
    admission = Admission(InProcessStore())
    admission.priorities.configure(policy())
    gate = admission.priorities.gate("local")
    assert gate is not None
    await gate.enter("duo_chat", "i")
    waiter = asyncio.create_task(gate.enter("duo_chat", "i"))
    await settle_loop()
    admission.priorities.configure(policy(max_queue=10))
    assert gate.waiting == 1 and not waiter.done()
    admission.priorities.configure(PriorityPolicy())
    await settle_loop()
    assert waiter.done() and admission.priorities.gate("local") is None
    admission.close()
