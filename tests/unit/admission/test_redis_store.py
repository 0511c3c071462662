"""The admission counters in a real Redis (`AIGW_LIMITS__REDIS_URL`): the same grants as the
in-process `CounterStore`, exact across replicas that each hold their own connections (as
ingress replicas of several Ray clusters do), and a Redis that dies, hangs or restarts
decided per rule within the bounded wait. No Ray: `Admission` objects play the replicas."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from core.errors import AdmissionUnavailable, RateLimitExceeded
from core.settings import Config
from routing.admission import Admission, CounterStore, LimitRule
from routing.admission.leases import StoreUnavailable
from routing.admission.redis_store import SLOT_TTL_S, RedisStore, masked
from routing.admission.store import Ask, Return, lease_extra
from tests.redis_server import RedisServer
from tests.unit.admission.test_admission import USER, attempt, rule

HOUR = 3600.0


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    redis = RedisServer()
    redis.start()
    yield redis
    redis.kill()


@pytest.fixture
async def store(server: RedisServer) -> AsyncIterator[RedisStore]:
    server.call("FLUSHALL")
    client = RedisStore(server.url)
    yield client
    await client.aclose()


def in_fresh_window(window_s: float, need_s: float = 10.0) -> None:
    """Wait, if need be, until the current window has `need_s` left: a test of exact counts
    must not straddle a window's end (Redis runs on this machine, on this clock)."""
    left = window_s - time.time() % window_s
    if left < need_s:
        time.sleep(left + 0.05)


def replicas(url: str, count: int, rules: list[LimitRule], wait_s: float = 10.0):
    """`count` replicas, each with its own client (connections) of the one Redis."""
    out = []
    for _ in range(count):
        admission = Admission(RedisStore(url), store_wait_s=wait_s)
        admission.configure(rules)
        out.append(admission)
    return out


async def close(reps: list[Admission]) -> None:
    for admission in reps:
        admission.close()
        assert isinstance(admission.store, RedisStore)
        await admission.store.aclose()


async def test_grants_and_returns_match_the_in_process_store(store: RedisStore) -> None:
    """One script of asks and returns against both stores: the same grants and remainders
    (windows, slots, leases shrinking as a window runs low, partial grants, charges)."""
    in_fresh_window(HOUR)
    local = CounterStore()
    plan: list[tuple[list[Ask], str]] = [
        ([Ask("w", 10, HOUR, 1, 1)], ""),
        ([Ask("w", 10, HOUR, 4, 4), Ask("c", 2, 0.0, 1, 1)], ""),
        ([Ask("c", 2, 0.0, 1, 1), Ask("c", 2, 0.0, 1, 1)], ""),
        ([Ask("w", 10, HOUR, 6, 6)], "give w 2"),  # all or nothing: refused, then 2 back
        ([Ask("w", 10, HOUR, 6, 6)], "give c 1"),
        ([Ask("c", 2, 0.0, 1, 1)], "charge w 3"),  # a charge: tokens past a reservation
        ([Ask("w", 10, HOUR, 1, 5)], ""),  # shrink: what is left
        ([Ask("t", 5000, HOUR, 100, 100, lease_extra(5000))], ""),
        ([Ask("t", 5000, HOUR, 100, 100, lease_extra(5000))], "give t 50"),
    ]
    results = []
    for kind in (local, store):
        epoch = ""
        last: dict[str, tuple[int, str]] = {}
        seen = []
        for asks, after in plan:
            grants = kind.take(asks) if isinstance(kind, CounterStore) else await kind.take(asks)
            for ask, grant in zip(asks, grants, strict=True):
                last[ask.bucket] = (grant.window, grant.epoch)
                epoch = grant.epoch
                seen.append((grant.granted, grant.remaining, grant.window < 0))
                assert grant.reset_s == 0 if grant.window < 0 else 0 < grant.reset_s <= HOUR
            if after:
                verb, bucket, amount = after.split()
                window, _ = last[bucket]
                value = int(amount) if verb == "give" else -int(amount)
                returns = [Return(bucket, window, epoch, value)]
                if isinstance(kind, CounterStore):
                    kind.give_back(returns)
                else:
                    await kind.give_back(returns)
        results.append(seen)
    assert results[0] == results[1]
    assert results[1][:3] == [(1, 9, False), (4, 5, False), (1, 1, True)]


async def test_returns_of_another_epoch_or_a_past_window_are_dropped(
    store: RedisStore, server: RedisServer
) -> None:
    in_fresh_window(HOUR)
    grant = (await store.take([Ask("b", 10, HOUR, 5, 5)]))[0]
    await store.give_back([Return("b", grant.window, "another-store", 5)])
    assert (await store.take([Ask("b", 10, HOUR, 6, 6)]))[0].granted == 0
    await store.give_back([Return("b", grant.window - 1, grant.epoch, 5)])
    assert (await store.take([Ask("b", 10, HOUR, 6, 6)]))[0].granted == 0
    await store.give_back([Return("b", grant.window, grant.epoch, 5)])
    assert (await store.take([Ask("b", 10, HOUR, 6, 6)]))[0].granted == 6
    # Redis never fills up: a window's key goes at the window's end, a slots bucket after
    # an idle hour, and the epoch stays.
    await store.take([Ask("c", 3, 0.0, 1, 1)])
    assert 0 < int(server.call("TTL", "aigw:adm:b")[1:]) <= HOUR
    assert 0 < int(server.call("TTL", "aigw:adm:c")[1:]) <= SLOT_TTL_S
    assert server.call("TTL", "aigw:adm:epoch") == b":-1\r\n"


async def test_the_script_is_loaded_again_after_redis_forgets_it(
    store: RedisStore, server: RedisServer
) -> None:
    assert (await store.take([Ask("b", 10, HOUR, 1, 1)]))[0].granted == 1
    server.call("SCRIPT", "FLUSH")
    assert (await store.take([Ask("b", 10, HOUR, 1, 1)]))[0].granted == 1


@pytest.mark.parametrize("count", [2, 4])
async def test_concurrent_requests_over_replicas_admit_exactly_the_limit(
    store: RedisStore, server: RedisServer, count: int
) -> None:
    in_fresh_window(HOUR)
    reps = replicas(server.url, count, [rule(requests_per_minute=10, window_s=HOUR)])
    results = await asyncio.gather(*(attempt(reps[i % count]) for i in range(40)))
    refused = [r for r in results if isinstance(r, RateLimitExceeded)]
    assert len(results) - len(refused) == 10
    assert {r.rule for r in refused} == {"r1"}
    left = HOUR - time.time() % HOUR  # Retry-After: what is left of the window, by Redis
    assert all(abs(r.retry_after - left) <= 2 for r in refused)
    await close(reps)


@pytest.mark.parametrize("count", [2, 4])
async def test_a_streamed_burst_over_replicas_never_passes_the_token_budget(
    store: RedisStore, server: RedisServer, count: int
) -> None:
    in_fresh_window(HOUR)
    budget = 5000
    reps = replicas(server.url, count, [rule(tokens_per_minute=budget, window_s=HOUR)])

    async def stream(i: int) -> int:
        try:
            ticket = await reps[i % count].admit(USER, lambda: 30, 64)
        except RateLimitExceeded:
            return 0
        used = 0
        for _ in range(ticket.max_tokens or 0):  # one token a chunk, up to max_tokens
            await asyncio.sleep(0)
            used += 1
            ticket.observe(used)
        await ticket.release()  # as on a disconnect: charged what was streamed
        return 30 + used

    spent = await asyncio.gather(*(stream(i) for i in range(100)))
    assert sum(spent) <= budget
    # 53 requests of 94 tokens fit; what replicas hold when the budget runs out may leave
    # one of them unserved per replica in a burst, never more.
    assert sum(1 for s in spent if s) >= budget // 94 - count + 1
    await close(reps)


async def test_with_ample_budget_the_hot_path_does_not_ask_redis(
    store: RedisStore, server: RedisServer
) -> None:
    in_fresh_window(HOUR)
    (admission,) = replicas(server.url, 1, [rule(requests_per_minute=100_000, window_s=HOUR)])
    for _ in range(200):
        (await admission.admit(USER, lambda: 0, 0)).settle()
    assert isinstance(admission.store, RedisStore) and admission.store.calls <= 2
    await close([admission])


async def test_a_slot_goes_back_to_redis_when_the_request_ends(
    store: RedisStore, server: RedisServer
) -> None:
    a, b = replicas(server.url, 2, [rule(max_concurrent=1)])
    held = await a.admit(USER, lambda: 0, 0)
    assert isinstance(await attempt(b), RateLimitExceeded)
    await held.release()
    await (await b.admit(USER, lambda: 0, 0)).release()
    await close([a, b])


async def test_a_dead_or_hung_redis_is_a_bounded_wait_then_open_or_closed_and_recovers() -> None:
    server = RedisServer()
    server.start()
    rules = [
        rule(name="open", requests_per_minute=3, window_s=HOUR),
        rule(name="closed", requests_per_minute=3, window_s=HOUR, on_store_failure="closed"),
    ]
    in_fresh_window(HOUR, need_s=30.0)
    (admission,) = replicas(server.url, 1, rules, wait_s=0.2)
    loop = asyncio.get_running_loop()
    try:
        first = await admission.admit(USER, lambda: 0, 0)
        await first.release()
        for stop in (server.pause, server.kill):  # hung (no answer), then gone (refused)
            stop()
            started = loop.time()
            with pytest.raises(AdmissionUnavailable) as exc:
                await admission.admit(USER, lambda: 0, 0)
            assert exc.value.rule == "closed" and loop.time() - started < 1.0
            admission.configure([rules[0]])
            for _ in range(10):  # fails open, and without waiting on Redis again
                started = loop.time()
                await (await admission.admit(USER, lambda: 0, 0)).release()
                assert loop.time() - started < 0.5
            admission.configure(rules)
            await asyncio.sleep(1.1)  # the next request asks Redis again
            if stop == server.pause:
                server.resume()
                await (await admission.admit(USER, lambda: 0, 0)).release()  # back: 2 of 3
        # Redis restarts empty: a new epoch; the window's accounting before it is lost (at
        # most that), and the client connects again by itself.
        server.start()
        await asyncio.sleep(1.1)
        admitted = [await attempt(admission) for _ in range(5)]
        assert [isinstance(a, RateLimitExceeded) for a in admitted] == [False] * 3 + [True] * 2
        assert b"aigw:adm:epoch" in server.call("KEYS", "*")
    finally:
        await close([admission])
        server.kill()


async def test_the_url_password_never_reaches_logs_or_errors(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = RedisServer(password="s3cret-pass")
    server.start()
    wrong = server.url.replace("s3cret-pass", "wr0ng-pass")
    caplog.set_level(logging.DEBUG)
    try:
        good, bad = RedisStore(server.url), RedisStore(wrong)
        assert (await good.take([Ask("b", 1, HOUR, 1, 1)]))[0].granted == 1
        errors = []
        with pytest.raises(StoreUnavailable) as refused:  # a wrong password
            await bad.take([Ask("b", 1, HOUR, 1, 1)])
        errors.append(str(refused.value))
        server.kill()
        with pytest.raises(StoreUnavailable) as down:  # Redis gone
            await good.take([Ask("b", 1, HOUR, 1, 1)])
        errors.append(str(down.value))
        monkeypatch.setenv("AIGW_LIMITS__REDIS_URL", server.url)
        settings = Config()
        assert settings.limits.redis_url.get_secret_value() == server.url
        shown = "\n".join([caplog.text, *errors, repr(settings), str(settings.model_dump())])
        assert "s3cret-pass" not in shown and "wr0ng-pass" not in shown
        assert f"redis://***@127.0.0.1:{server.port}/0" in caplog.text
        assert "AuthenticationError" in errors[0] and "ConnectionError" in errors[1]
        await good.aclose()
        await bad.aclose()
    finally:
        server.kill()


def test_masked_urls() -> None:
    assert masked("redis://:pw@h:6379/0") == "redis://***@h:6379/0"
    assert masked("rediss://user:pw@h/1") == "rediss://***@h/1"
    assert masked("redis://h:6379") == "redis://h:6379"
    assert masked("unix:///run/redis.sock") == "unix:///run/redis.sock"
