"""Admission control numbers for the note (issue 16), in one process, no Ray:

- CPU per request of admit + settle with 3 enforced rules (requests, tokens, concurrency,
  all with ample budget) vs no rules, same run: what the hot path adds to a request.
- Exactness: replicas (Admission objects) over one store whose calls yield like an actor
  hop, 40 concurrent requests against 10 rpm and 100 streamed requests against a token
  budget; admitted vs allowed.
- Priority under a saturated slow backend: 32 clients in a closed loop (16 completions of
  20 ms, 16 chats of 100 ms) against a backend that takes 8 at once and queues the rest first
  come, first served (as a Serve handle does), with and without the priority gate in front;
  p50/p99 per class and what was shed.

`python -m bench.admission` (seconds). The Serve-level checks are the integration tests
(tests/integration/test_admission_serve.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from core.errors import RateLimitExceeded
from observability.metrics import Metric, _Buffered, _BufferedMetric
from routing.admission import (
    NO_LIMITS,
    Admission,
    CounterStore,
    InProcessStore,
    LimitRule,
    Subject,
)
from routing.admission.metrics import AdmissionMetrics
from routing.admission.priority import PriorityPolicy, Shed
from routing.admission.store import Ask, Grant, Return

SUBJECT = Subject("code_completions", "complete_code", ("codestral",), "saas", "u1", "i1")
RULES = [
    LimitRule(name="rpm", requests_per_minute=10_000_000),
    LimitRule(name="tpm", tokens_per_minute=10_000_000_000),
    LimitRule(name="conc", max_concurrent=1_000_000, key="instance"),
]


class BufferedOnly:
    """The replica's metrics (RayMetrics) up to the hand-over to Ray: the per-request dict
    update of its buffer, flushed once a second to nothing."""

    def __init__(self) -> None:
        self.buffer = _Buffered()

    def counter(self, name: str, description: str, tag_keys: Sequence[str]) -> Metric:
        return _BufferedMetric(self.buffer.add, lambda value, tags: None)

    def histogram(
        self, name: str, description: str, boundaries: Sequence[float], tag_keys: Sequence[str]
    ) -> Metric:
        return _BufferedMetric(self.buffer.add, lambda value, tags: None)

    def gauge(self, name: str, description: str, tag_keys: Sequence[str]) -> Metric:
        return _BufferedMetric(self.buffer.set, lambda value, tags: None)


class HopStore(InProcessStore):
    async def take(self, asks: Sequence[Ask], returns: Sequence[Return] = ()) -> list[Grant]:
        await asyncio.sleep(0.001)  # an actor call is about a millisecond here
        return await super().take(asks, returns)


async def cpu_per_request(
    rules: list[LimitRule], n: int = 50_000, metrics: bool = False
) -> tuple[float, int]:
    store = InProcessStore(CounterStore(lambda: 30.0))
    admission = Admission(store, AdmissionMetrics(BufferedOnly()) if metrics else None)
    admission.configure(rules)
    for _ in range(1000):  # warm: the first lease
        await (await admission.admit(SUBJECT, lambda: 200, 64)).release()
    calls = store.calls
    started = time.process_time()
    for _ in range(n):
        ticket = await admission.admit(SUBJECT, lambda: 200, 64)
        ticket.observe(40)
        await ticket.release()
    spent = time.process_time() - started
    admission.close()
    return spent / n * 1e6, store.calls - calls


async def exactness(replicas: int) -> tuple[int, int]:
    store = HopStore(CounterStore(lambda: 30.0))
    reps = [Admission(store) for _ in range(replicas)]
    for r in reps:
        r.configure([LimitRule(name="rpm", requests_per_minute=10)])

    async def one(i: int) -> bool:
        try:
            await (await reps[i % replicas].admit(SUBJECT, lambda: 0, 0)).release()
            return True
        except RateLimitExceeded:
            return False

    admitted = sum(await asyncio.gather(*(one(i) for i in range(40))))
    for r in reps:
        r.close()
    return admitted, 10


async def streamed_burst(reps: Sequence[Admission], subject: Subject, n: int = 100) -> list[int]:
    """`n` concurrent streams over `reps` in turn, each of 30 input tokens asking for 64 output
    tokens and observing them one at a time: the tokens each spent (0: refused)."""

    async def stream(i: int) -> int:
        try:
            ticket = await reps[i % len(reps)].admit(subject, lambda: 30, 64)
        except RateLimitExceeded:
            return 0
        for used in range(1, (ticket.max_tokens or 0) + 1):
            await asyncio.sleep(0)
            ticket.observe(used)
        await ticket.release()
        return 30 + ticket.output_tokens

    return list(await asyncio.gather(*(stream(i) for i in range(n))))


async def token_exactness(replicas: int, budget: int = 5000) -> tuple[int, int, int]:
    store = HopStore(CounterStore(lambda: 30.0))
    reps = [Admission(store) for _ in range(replicas)]
    for r in reps:
        r.configure([LimitRule(name="tpm", tokens_per_minute=budget)])

    spent = await streamed_burst(reps, SUBJECT)
    for r in reps:
        r.close()
    return sum(spent), budget, sum(1 for s in spent if s)


SERVICE_S = {"code_completions": 0.02, "duo_chat": 0.1}
BACKEND_SLOTS = 8


async def saturated(
    priority: bool, seconds: float = 3.0
) -> dict[str, tuple[float, float, int, int]]:
    """Per feature: p50 and p99 ms of answered requests, answered, shed."""
    backend = asyncio.Semaphore(BACKEND_SLOTS)  # Serve's handle queue: first come, first served
    admission = Admission(InProcessStore())
    if priority:
        capacity = {"local": {"max_ongoing_requests": BACKEND_SLOTS}}
        admission.priorities.configure(PriorityPolicy.model_validate({"backends": capacity}))
    latencies: dict[str, list[float]] = {f: [] for f in SERVICE_S}
    shed = dict.fromkeys(SERVICE_S, 0)
    stop = time.perf_counter() + seconds

    async def client(feature: str, tenant: str) -> None:
        subject = Subject(feature, feature, ("m",), "saas", tenant, tenant)
        while time.perf_counter() < stop:
            started = time.perf_counter()
            try:
                ticket = await admission.queue_for(NO_LIMITS, "local", subject, None)
            except Shed:
                shed[feature] += 1
                await asyncio.sleep(0.05)
                continue
            async with backend:
                await asyncio.sleep(SERVICE_S[feature])
            ticket.settle()
            latencies[feature].append((time.perf_counter() - started) * 1000)

    features = list(SERVICE_S)
    await asyncio.gather(*(client(features[i % 2], f"i{i % 4}") for i in range(32)))
    admission.close()
    out = {}
    for feature, values in latencies.items():
        values.sort()
        p50 = values[len(values) // 2] if values else 0.0
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))] if values else 0.0
        out[feature] = (p50, p99, len(values), shed[feature])
    return out


async def main() -> None:
    base, _ = await cpu_per_request([])
    limited, store_calls = await cpu_per_request(RULES)
    counted, _ = await cpu_per_request(RULES, metrics=True)
    print(f"CPU per request, admit+settle: no rules {base:.2f} µs, 3 enforced rules "
          f"{limited:.2f} µs (+{limited - base:.2f} µs = {(limited - base) / 1000:.4f} ms); "
          f"store calls in 50,000 requests: {store_calls}; with the rules' metrics "
          f"buffered as a replica does {counted:.2f} µs (+{counted - base:.2f} µs)")  # fmt: skip
    print(
        "| replicas | 40 concurrent vs 10 rpm: admitted / allowed | 100 streams: tokens "
        "spent / budget (admitted) |"
    )
    print("|---|---|---|")
    for n in (2, 4):
        admitted, allowed = await exactness(n)
        spent, budget, count = await token_exactness(n)
        print(f"| {n} | {admitted} / {allowed} | {spent} / {budget} ({count}) |")
    print(f"\nSaturated backend ({BACKEND_SLOTS} at once), c=32: 16 completions "
          "(20 ms) + 16 chats (100 ms), closed loop, 3 s")  # fmt: skip
    print("| priority classes | completions p50 / p99 ms (answered, shed) | "
          "chat p50 / p99 ms (answered, shed) |")  # fmt: skip
    print("|---|---|---|")
    for priority in (False, True):
        rows = await saturated(priority)
        cells = [f"{p50:.1f} / {p99:.1f} ({n}, {s})" for p50, p99, n, s in rows.values()]
        print(f"| {'on' if priority else 'off'} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    asyncio.run(main())
