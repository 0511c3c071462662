"""Admission across replicas, reservations, shadow mode and store failures (no Ray: two
`Admission` objects play two ingress replicas over one shared store)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from core.errors import AdmissionUnavailable, RateLimitExceeded
from observability.metrics import MemoryMetrics
from routing.admission import Admission, CounterStore, InProcessStore, LimitRule, Subject
from routing.admission.metrics import AdmissionMetrics
from routing.admission.store import Ask, Grant, Return

USER = Subject("code_completions", "complete_code", ("codestral",), "saas", "u1", "i1")


class SlowStore(InProcessStore):
    """The shared store a handle hop away: each call yields, so requests interleave. Its
    clock stands still mid-window, so no test straddles the end of a real minute."""

    def __init__(self) -> None:
        super().__init__(CounterStore(lambda: 30.0))

    async def take(self, asks: Sequence[Ask], returns: Sequence[Return] = ()) -> list[Grant]:
        await asyncio.sleep(0.001)
        return await super().take(asks, returns)


class DeadStore(InProcessStore):
    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    async def take(self, asks: Sequence[Ask], returns: Sequence[Return] = ()) -> list[Grant]:
        self.waits += 1
        await asyncio.sleep(60)
        raise AssertionError("never answers")

    async def give_back(self, returns: Sequence[Return]) -> None:
        await asyncio.sleep(60)


def rule(**fields: Any) -> LimitRule:
    return LimitRule.model_validate({"name": "r1", **fields})


def replicas(n: int, rules: list[LimitRule], store: InProcessStore | None = None):
    shared = store or SlowStore()
    out = []
    for _ in range(n):
        # A generous wait: on a loaded machine a store call may be slow, and this is not
        # the test of what a store that does not answer means.
        admission = Admission(shared, store_wait_s=10.0)
        admission.configure(rules)
        out.append(admission)
    return out


async def attempt(admission: Admission, subject: Subject = USER, inp: int = 0, out: int = 0):
    try:
        return await admission.admit(subject, lambda: inp, out)
    except RateLimitExceeded as exc:
        return exc


@pytest.mark.parametrize("count", [2, 4])
async def test_concurrent_requests_over_replicas_admit_exactly_the_limit(count: int) -> None:
    reps = replicas(count, [rule(requests_per_minute=10)])
    results = await asyncio.gather(*(attempt(reps[i % count]) for i in range(40)))
    refused = [r for r in results if isinstance(r, RateLimitExceeded)]
    assert len(results) - len(refused) == 10
    assert {r.rule for r in refused} == {"r1"}
    assert all(1 <= r.retry_after <= 60 for r in refused)
    for admission in reps:
        admission.close()


async def test_with_ample_budget_the_hot_path_does_not_ask_the_store() -> None:
    store = SlowStore()
    (admission,) = replicas(1, [rule(requests_per_minute=100_000)], store)
    for _ in range(200):
        (await admission.admit(USER, lambda: 0, 0)).settle()
    assert store.calls <= 2  # one lease served the rest
    admission.close()


async def test_token_reservations_are_settled_at_real_usage() -> None:
    (admission,) = replicas(1, [rule(tokens_per_minute=1000)])
    ticket = await admission.admit(USER, lambda: 100, 400)
    assert ticket.max_tokens == 400
    with pytest.raises(RateLimitExceeded):  # 500 reserved, 500 left: 100 + 401 does not fit
        await admission.admit(USER, lambda: 100, 401)
    ticket.settle(output_tokens=50)  # 150 charged, 350 back
    second = await admission.admit(USER, lambda: 100, 700)
    assert second.max_tokens == 700
    second.settle(output_tokens=700)  # 950 charged in all
    (await admission.admit(USER, lambda: 1, 49)).settle(output_tokens=49)
    with pytest.raises(RateLimitExceeded) as exc:
        await admission.admit(USER, lambda: 1, 1)
    assert exc.value.headers["RateLimit"] == '"r1-tokens";r=0;t=' + str(exc.value.retry_after)
    admission.close()


async def test_a_shrink_rule_lowers_max_tokens_to_what_is_left() -> None:
    (admission,) = replicas(1, [rule(tokens_per_minute=300, on_short_budget="shrink")])
    first = await admission.admit(USER, lambda: 50, 200)
    first.settle(output_tokens=150)
    second = await admission.admit(USER, lambda: 50, 200)
    assert second.max_tokens == 50  # 300 - 200 used - 50 input
    second.settle(output_tokens=50)
    with pytest.raises(RateLimitExceeded):
        await admission.admit(USER, lambda: 50, 200)
    admission.close()


async def test_a_streamed_burst_over_replicas_never_passes_the_token_budget() -> None:
    budget = 5000
    store = SlowStore()
    reps = replicas(2, [rule(tokens_per_minute=budget)], store)

    async def stream(i: int) -> int:
        try:
            ticket = await reps[i % 2].admit(USER, lambda: 30, 64)
        except RateLimitExceeded:
            return 0
        used = 0
        for _ in range(ticket.max_tokens or 0):  # one token a chunk, up to max_tokens
            await asyncio.sleep(0)
            used += 1
            ticket.observe(used)
        ticket.settle()  # as on a disconnect: charged what was streamed
        return 30 + used

    spent = await asyncio.gather(*(stream(i) for i in range(100)))
    assert sum(spent) <= budget
    # 53 requests of 94 tokens fit; what replicas hold when the budget runs out may leave
    # one of them unserved in a burst, never more.
    assert sum(1 for s in spent if s) >= budget // 94 - 1
    for admission in reps:
        admission.close()


async def test_max_concurrent_frees_a_slot_when_the_request_ends() -> None:
    (admission,) = replicas(1, [rule(max_concurrent=2)])
    a = await admission.admit(USER, lambda: 0, 0)
    await admission.admit(USER, lambda: 0, 0)
    with pytest.raises(RateLimitExceeded):
        await admission.admit(USER, lambda: 0, 0)
    async with a:
        pass
    await admission.admit(USER, lambda: 0, 0)
    admission.close()


async def test_rules_match_selectors_and_key_by_user_instance_or_global() -> None:
    rules = [
        rule(name="per-user", requests_per_minute=1, match={"feature": "code_completions"}),
        rule(name="per-instance", requests_per_minute=2, key="instance", match={"realm": "saas"}),
        rule(name="chat", requests_per_minute=1, key="global", match={"feature": "duo_chat"}),
    ]
    (admission,) = replicas(1, rules)
    other_user = Subject("code_completions", "complete_code", ("x",), "saas", "u2", "i1")
    ticket = await admission.admit(USER, lambda: 0, 0)
    assert ticket.rules == ["per-instance", "per-user"]
    assert "RateLimit-Policy" in ticket.headers
    await admission.admit(other_user, lambda: 0, 0)  # own user budget, instance's second
    refused = await attempt(admission, Subject("code_completions", "", (), "saas", "u3", "i1"))
    assert isinstance(refused, RateLimitExceeded) and refused.rule == "per-instance"
    self_managed = Subject("code_completions", "", (), "self-managed", "u3", "i1")
    assert (await admission.admit(self_managed, lambda: 0, 0)).rules == ["per-user"]
    admission.close()


async def test_shadow_rules_never_refuse_but_count_what_they_would_have() -> None:
    memory = MemoryMetrics()
    admission = Admission(SlowStore(), AdmissionMetrics(memory))
    admission.configure([rule(requests_per_minute=2, mode="shadow")])
    for _ in range(5):
        await admission.admit(USER, lambda: 0, 0)
    assert memory.total("rate_limit_shadow_refusals_total", rule="r1") == 3
    assert memory.total("rate_limit_decisions_total", rule="r1", decision="admitted") == 5
    admission.close()


async def test_a_dead_store_is_a_bounded_wait_then_open_or_closed_per_rule() -> None:
    store = DeadStore()
    admission = Admission(store, store_wait_s=0.05)
    admission.configure(
        [rule(name="open", requests_per_minute=5), rule(name="closed", requests_per_minute=5,
                                                         on_store_failure="closed")]
    )  # fmt: skip
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AdmissionUnavailable) as exc:
        await admission.admit(USER, lambda: 0, 0)
    assert exc.value.rule == "closed" and loop.time() - started < 0.5
    admission.configure([rule(name="open", requests_per_minute=5)])
    for _ in range(20):  # fails open; no wait while the store is known to be down
        await admission.admit(USER, lambda: 0, 0)
    assert store.waits == 1
    admission.close()


def test_rule_validation() -> None:
    with pytest.raises(ValueError, match="sets none of"):
        LimitRule(name="x")
    with pytest.raises(ValueError):
        LimitRule.model_validate({"name": "x", "requests_per_minute": 1, "burst": 3})
    admission = Admission(InProcessStore(CounterStore()))
    with pytest.raises(ValueError, match="two limit rules"):
        admission.configure([rule(requests_per_minute=1), rule(requests_per_minute=2)])


class LastFirstStore(InProcessStore):
    """Grants in the order calls arrive, answers in the reverse order (replies of a remote
    store land in any order): the empty grants of a burst's last asks come back first."""

    def __init__(self) -> None:
        super().__init__(CounterStore(lambda: 30.0))
        self.arrived = 0

    async def take(self, asks: Sequence[Ask], returns: Sequence[Return] = ()) -> list[Grant]:
        grants = await super().take(asks, returns)
        self.arrived += 1
        await asyncio.sleep(0.001 * (30 - self.arrived))
        return grants


async def test_a_burst_is_not_refused_while_its_replicas_grants_are_still_landing() -> None:
    (admission,) = replicas(1, [rule(tokens_per_minute=1000)], LastFirstStore())
    results = await asyncio.gather(*(attempt(admission, inp=30, out=64) for _ in range(20)))
    # 10 requests of 94 tokens fit in 1,000; the first asks' grants carry the surplus the
    # others spend, even though the empty grants of the last asks land first.
    assert sum(1 for r in results if not isinstance(r, RateLimitExceeded)) == 1000 // 94
    admission.close()
