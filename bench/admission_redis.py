"""Admission control with its counters in Redis (`AIGW_LIMITS__REDIS_URL`) beside the
in-process store, in one process and one run (no Ray; `Admission` objects play replicas,
each with its own Redis client, as ingress replicas of several clusters would have):

- CPU per admitted request of admit + settle with 3 enforced rules (ample budget), in-process
  store vs Redis, and Redis round trips per request on that hot path (leases: ~0);
- the same with limits small enough that every request asks the store (1 rpm per user, a
  new user each request): the cost of a round trip itself, in-process vs Redis;
- exactness: 40 concurrent requests vs 10 rpm, and 100 streamed requests vs a 5,000-token
  budget, over 2 and 4 replicas: admitted vs allowed, tokens spent vs budget, round trips.

`python -m bench.admission_redis` (seconds; needs redis-server, `make redis-server`). It
starts its own redis-server on a free loopback port, without persistence.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time

from bench.admission import RULES, SUBJECT, streamed_burst
from core.errors import RateLimitExceeded
from routing.admission import Admission, CounterStore, InProcessStore, LimitRule, StoreClient
from routing.admission.redis_store import RedisStore
from tests.redis_server import RedisServer

HOUR = 3600.0


def server_cpu_s(server: RedisServer) -> float:
    """redis-server's own CPU so far (user + system, from /proc)."""
    assert server.proc is not None
    with open(f"/proc/{server.proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def cpu_per_request(store: StoreClient, rules: list[LimitRule], n: int, fresh_user: bool):
    admission = Admission(store)
    admission.configure(rules)
    for i in range(200):  # warm: connections, the script, the first leases
        subject = dataclasses.replace(SUBJECT, user=f"w{i}") if fresh_user else SUBJECT
        await (await admission.admit(subject, lambda: 200, 64)).release()
    calls = store.calls  # type: ignore[attr-defined]
    subjects = [dataclasses.replace(SUBJECT, user=f"u{i}") for i in range(n)]
    started = time.process_time()
    wall = time.perf_counter()
    for i in range(n):
        ticket = await admission.admit(subjects[i] if fresh_user else SUBJECT, lambda: 200, 64)
        ticket.observe(40)
        await ticket.release()
    cpu = time.process_time() - started
    wall = time.perf_counter() - wall
    admission.close()
    return cpu / n * 1e6, wall / n * 1e6, (store.calls - calls) / n  # type: ignore[attr-defined]


def replicas(url: str, count: int, rules: list[LimitRule]) -> list[Admission]:
    out = []
    for _ in range(count):
        admission = Admission(RedisStore(url), store_wait_s=10.0)
        admission.configure(rules)
        out.append(admission)
    return out


async def close(reps: list[Admission]) -> int:
    calls = 0
    for admission in reps:
        admission.close()
        assert isinstance(admission.store, RedisStore)
        calls += admission.store.calls
        await admission.store.aclose()
    return calls


async def exactness(url: str, count: int) -> tuple[int, int]:
    rule = LimitRule(name="rpm", requests_per_minute=10, window_s=HOUR)
    reps = replicas(url, count, [rule])
    user = dataclasses.replace(SUBJECT, user=f"exact-{count}")

    async def one(i: int) -> bool:
        try:
            await (await reps[i % count].admit(user, lambda: 0, 0)).release()
            return True
        except RateLimitExceeded:
            return False

    admitted = sum(await asyncio.gather(*(one(i) for i in range(40))))
    return admitted, await close(reps)


async def token_exactness(url: str, count: int, budget: int = 5000):
    reps = replicas(url, count, [LimitRule(name="tpm", tokens_per_minute=budget, window_s=HOUR)])
    user = dataclasses.replace(SUBJECT, user=f"tokens-{count}")

    spent = await streamed_burst(reps, user)
    return sum(spent), sum(1 for s in spent if s), await close(reps)


async def main(server: RedisServer) -> None:
    url = server.url
    left = HOUR - time.time() % HOUR
    if left < 60:  # the exactness rows must not straddle a window's end
        await asyncio.sleep(left + 0.1)
    n = 20_000
    print("CPU per request, admit + settle, 3 enforced rules (requests, tokens, concurrency)")
    print("| store | ample budget: CPU µs / wall µs / store calls per request "
          "| every request asks the store: CPU µs / wall µs / calls |")  # fmt: skip
    print("|---|---|---|")
    tiny = [LimitRule(name="rpm1", requests_per_minute=1)]
    for name in ("in-process", "redis"):
        ample_store: StoreClient = (
            InProcessStore(CounterStore()) if name == "in-process" else RedisStore(url)
        )
        ample = await cpu_per_request(ample_store, RULES, n, fresh_user=False)
        tiny_store: StoreClient = (
            InProcessStore(CounterStore()) if name == "in-process" else RedisStore(url)
        )
        before = server_cpu_s(server)
        asks = await cpu_per_request(tiny_store, tiny, 2000, fresh_user=True)
        redis_cpu = (server_cpu_s(server) - before) / 2200 * 1e6  # warm-up calls included
        for store in (ample_store, tiny_store):
            if isinstance(store, RedisStore):
                await store.aclose()
        extra = f" (+ redis-server {redis_cpu:.0f} µs)" if name == "redis" else ""
        print(f"| {name} | {ample[0]:.2f} / {ample[1]:.2f} / {ample[2]:.4f} "
              f"| {asks[0]:.1f}{extra} / {asks[1]:.1f} / {asks[2]:.2f} |")  # fmt: skip
    print("\nExactness over Redis (each replica its own client)")
    print("| replicas | 40 concurrent vs 10 rpm: admitted / allowed (round trips) "
          "| 100 streams: tokens spent / budget (admitted, round trips) |")  # fmt: skip
    print("|---|---|---|")
    for count in (2, 4):
        admitted, calls = await exactness(url, count)
        spent, streams, token_calls = await token_exactness(url, count)
        print(f"| {count} | {admitted} / 10 ({calls}) | {spent} / 5000 ({streams} of 53, "
              f"{token_calls}) |")  # fmt: skip


if __name__ == "__main__":
    redis = RedisServer()
    redis.start()
    try:
        asyncio.run(main(redis))
    finally:
        redis.kill()
