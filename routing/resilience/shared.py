"""Breaker states shared across ingress replicas through one small named Ray actor.

Replicas never wait on it while serving: the hot path only updates a dict of pending
reports (`SharedBreakers.report`); a background task sends them every `interval_s` and takes
back the graph's view, which `Breakers` overlays on the local breakers. The actor (`Hub`)
runs the same breaker rules over every replica's outcomes, and grants the half-open probe to
one replica at a time: one probe in the whole graph. No answer for a while (actor lost or
restarting) and each replica is back on its own breakers until it answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from routing.resilience.breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    Breaker,
    Breakers,
    SharedView,
)
from routing.resilience.policy import BreakerPolicy

logger = logging.getLogger("aigw.routing")

NAMESPACE = "aigw"
# An idle replica (nothing to report, every breaker closed here and in the graph's last view)
# syncs once every this many ticks: 2 s instead of 0.25 s. The hub actor's calls were 16 ms of
# CPU per second on an idle graph; a replica with traffic has reports, so syncs every tick.
IDLE_SYNC_EVERY = 8


@dataclass(slots=True)
class Report:
    """What one replica saw of one target since its last sync."""

    ok: int = 0
    failed: int = 0
    retry_after_s: float = 0.0
    opened_until: float = 0.0  # this replica's breaker opened (until then)
    probe: str = ""  # "ok" | "failed": the result of the probe this replica was granted


class Hub:
    """The graph's breakers (plain class: the Ray actor below only hosts it)."""

    def __init__(self) -> None:
        self.breakers: dict[str, Breaker] = {}
        self.grants: dict[str, tuple[str, float]] = {}  # target -> (replica, expires)

    def sync(
        self, replica: str, reports: dict[str, Report], policy: BreakerPolicy, now: float
    ) -> dict[str, tuple[str, float, bool]]:
        """Fold in a replica's reports; the non-closed targets as (state, until, granted)."""
        for target, report in reports.items():
            breaker = self.breakers.get(target)
            if breaker is None:
                breaker = self.breakers[target] = Breaker(policy)
            breaker.policy = policy
            if report.probe == "ok":
                breaker.success(now)
                self.grants.pop(target, None)
            elif report.probe == "failed":
                breaker.trip(now, report.retry_after_s)
                self.grants.pop(target, None)
            if report.opened_until and breaker.state != OPEN:
                breaker.trip(now, report.retry_after_s, until=report.opened_until)
            if breaker.state == CLOSED:
                for _ in range(min(report.failed, 1000)):
                    if breaker.failure(now, report.retry_after_s or None):
                        break
                if report.ok and breaker.state == CLOSED:
                    breaker.consecutive = 0
                    breaker.window_total += report.ok
        views: dict[str, tuple[str, float, bool]] = {}
        for target, breaker in self.breakers.items():
            if breaker.state == OPEN and now >= breaker.open_until:
                breaker.state = HALF_OPEN
            if breaker.state == CLOSED:
                continue
            granted = False
            if breaker.state == HALF_OPEN:
                holder = self.grants.get(target)
                if holder is None or holder[1] <= now:
                    holder = self.grants[target] = (replica, now + policy.probe_grant_s)
                granted = holder[0] == replica
            views[target] = (breaker.state, breaker.open_until, granted)
        return views


Views = dict[str, tuple[str, float, bool]]


class HubActor:
    """The Ray actor around `Hub` (made with `ray.remote` where it is started)."""

    def __init__(self) -> None:
        self.hub = Hub()
        # A hub started anew (the old one lost, or restarted by Ray) knows no breaker: its
        # replicas see a new incarnation and tell it which targets they hold open.
        self.incarnation = uuid.uuid4().hex

    def sync(
        self, replica: str, reports: dict[str, Report], policy: BreakerPolicy
    ) -> tuple[str, Views]:
        return self.incarnation, self.hub.sync(replica, reports, policy, time.time())

    def state(self) -> dict[str, Any]:
        """For operators and tests: each target's breaker and who holds its probe."""
        return {
            "now": time.time(),
            "breakers": {t: (b.state, b.open_until) for t, b in self.hub.breakers.items()},
            "grants": dict(self.hub.grants),
        }


def connect_hub(name: str) -> Any:
    """The app's hub actor, started if no replica has started it yet (blocking: call it off
    the event loop)."""
    import ray

    actor_cls = ray.remote(num_cpus=0, max_restarts=-1)(HubActor)
    return actor_cls.options(
        name=name, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
    ).remote()


class SharedBreakers:
    """A replica's side of the shared breakers: pending reports and the sync loop."""

    def __init__(
        self,
        breakers: Breakers,
        replica: str,
        connect: Callable[[], Any],
        interval_s: float = 0.25,
    ) -> None:
        self.breakers = breakers
        self.replica = replica
        self.connect = connect
        self.interval_s = interval_s
        self.pending: dict[str, Report] = {}
        self._actor: Any = None
        self._incarnation = ""  # of the hub last heard from
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the sync loop in the running event loop (once; the engine calls this on
        every request, so a replica learns the graph's states before it needs them)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def report(self, target: str) -> Report:
        """The pending report of `target` (hot path: a dict lookup)."""
        self.start()
        report = self.pending.get(target)
        if report is None:
            report = self.pending[target] = Report()
        return report

    async def _run(self) -> None:
        skipped = 0
        while True:
            await asyncio.sleep(self.interval_s)
            if self.idle() and skipped < IDLE_SYNC_EVERY - 1:
                skipped += 1
                continue
            skipped = 0
            await self.sync_once()

    def idle(self) -> bool:
        """Nothing a sync could tell or change soon: no report, and no breaker open or
        half-open, here or in the graph's last view."""
        return (
            not self.pending
            and not self.breakers.shared
            and all(b.state == CLOSED for b in self.breakers.local.values())
        )

    async def sync_once(self) -> None:
        batch, self.pending = self.pending, {}
        sent_at = time.time()
        try:
            incarnation, raw = await self._sync(batch)
            if incarnation != self._incarnation:
                # A hub with no memory of this graph (or one this replica never met): its
                # view would close the breakers this replica holds open, and traffic would
                # reach targets still in their cooldown. Tell it first.
                self._incarnation = incarnation
                held = self.held_open(time.time())
                if held:
                    _, raw = await self._sync(held)
        except Exception:  # lost or restarting: local breakers until it answers again
            logger.debug("shared breaker sync failed", exc_info=True)
            self._actor = None
            return
        views = {t: SharedView(s, until, granted) for t, (s, until, granted) in raw.items()}
        self.breakers.apply(views, time.time() + 4 * self.interval_s, sent_at)

    async def _sync(self, reports: dict[str, Report]) -> tuple[str, Views]:
        if self._actor is None:
            self._actor = await asyncio.to_thread(self.connect)
        answer: tuple[str, Views] = await asyncio.wait_for(
            self._actor.sync.remote(self.replica, reports, self.breakers.policy),
            timeout=4 * self.interval_s,
        )
        return answer

    def held_open(self, now: float) -> dict[str, Report]:
        """This replica's open breakers still in their cooldown, as reports."""
        return {
            target: Report(opened_until=breaker.open_until)
            for target, breaker in self.breakers.local.items()
            if breaker.state == OPEN and breaker.open_until > now
        }

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(RuntimeError):
                self._task = None
