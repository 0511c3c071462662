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
