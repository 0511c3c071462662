"""A replica's side of the shared breakers when the hub actor is lost and a new one starts:
the replica keeps its own breakers meanwhile, and the new hub learns the open ones (no Ray:
the hub actor's class is called in-process)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from routing.resilience.breaker import DENY, OPEN, Breakers
from routing.resilience.policy import BreakerPolicy
from routing.resilience.shared import HubActor, Report, SharedBreakers


class _Method:
    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def remote(self, *args: Any) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            future.set_result(self.fn(*args))
        except Exception as exc:
            future.set_exception(exc)
        return future


class InProcessHub:
    """A hub actor's handle, in-process; `lost` makes every call fail as a dead actor's do."""

    def __init__(self) -> None:
        self.actor = HubActor()
        self.lost = False
        self.sync = _Method(self._sync)

    def _sync(self, *args: Any) -> Any:
        if self.lost:
            raise RuntimeError("the actor died")
        return self.actor.sync(*args)

    def open_targets(self) -> set[str]:
        return {t for t, b in self.actor.hub.breakers.items() if b.state == OPEN}


def test_a_new_hub_learns_the_open_breakers_and_none_closes_meanwhile() -> None:
    hubs = [InProcessHub()]
    shared = SharedBreakers(Breakers(BreakerPolicy(cooldown_s=1.0)), "a", lambda: hubs[-1])

    async def scenario() -> None:
        until = time.time() + 30.0  # a long Retry-After: the target is out for 30 s
        shared.breakers.of("t").trip(time.time(), until=until)
        shared.pending["t"] = Report(failed=1, opened_until=until)
        await shared.sync_once()
        assert hubs[0].open_targets() == {"t"}

        hubs[0].lost = True  # killed: the replica decides alone, and still holds "t" out
        await shared.sync_once()
        assert shared.breakers.admit("t", time.time()) == DENY

        hubs.append(InProcessHub())  # a new hub, with no memory of "t"
        await shared.sync_once()
        assert hubs[1].open_targets() == {"t"}
        assert shared.breakers.admit("t", time.time()) == DENY
        assert shared.breakers.shared["t"].state == OPEN

    asyncio.run(scenario())


class CountingHub(InProcessHub):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def _sync(self, *args: Any) -> Any:
        self.calls += 1
        return super()._sync(*args)


def test_an_idle_replica_syncs_less_often_and_a_report_or_an_open_breaker_restores_the_pace():
    hub = CountingHub()
    shared = SharedBreakers(Breakers(BreakerPolicy()), "a", lambda: hub, interval_s=0.01)
    ticks = 24  # 3 idle periods of IDLE_SYNC_EVERY (8) ticks

    async def calls_over(ticks: int) -> int:
        before = hub.calls
        await asyncio.sleep(ticks * shared.interval_s)
        return hub.calls - before

    async def scenario() -> tuple[int, int, int]:
        shared.start()
        idle = await calls_over(ticks)
        shared.report("t").ok += 1  # a request: its report goes at the next tick
        await asyncio.sleep(3 * shared.interval_s)
        reported = hub.calls
        until = time.time() + 30.0  # opened here, and so in the graph: every tick again
        shared.breakers.of("t").trip(time.time(), until=until)
        shared.report("t").opened_until = until
        busy = await calls_over(ticks)
        shared.close()
        return idle, reported, busy

    idle, reported, busy = asyncio.run(scenario())
    assert idle <= 4  # ~3 syncs in 3 idle periods (sleep overshoot only lowers it)
    assert "t" in hub.actor.hub.breakers and reported >= 1  # the report was sent
    assert busy >= ticks // 2  # one per tick, give or take a loaded runner's late wake-ups
