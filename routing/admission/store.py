"""The shared counters every ingress replica leases allowance from (one per Ray cluster: a
named actor holds a `CounterStore`). Plain and synchronous: the actor runs one call at a time,
so each grant sees every grant before it, which is what makes a limit exact across replicas.

Two kinds of bucket: a window (requests or tokens per `window_s`, fixed windows on the
store's clock, so replicas never disagree on where a window ends) and slots (requests in
flight, given back when they end).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# A lease carries at most this share of what is left of a window (and of the limit): as the
# remainder shrinks, leases shrink to exactly what a request needs, so allowance held idle by
# one replica can never strand more than a sliver of the budget another replica is refused.
LEASE_SHARE = 8
LEASE_OF_LIMIT = 20
SWEEP_EVERY = 1024  # takes between sweeps of buckets whose window has passed


@dataclass(frozen=True, slots=True)
class Ask:
    """Take between `least` and `full` units (nothing if fewer than `least` are left); `extra`
    more on top when the bucket has plenty (the lease the replica keeps for later)."""

    bucket: str
    limit: int
    window_s: float  # 0: a slots bucket (concurrency), no window
    least: int
    full: int
    extra: int = 0


@dataclass(frozen=True, slots=True)
class Grant:
    granted: int
    remaining: int  # left in the bucket after this grant
    reset_s: float  # until the window ends (0 for slots)
    window: int  # the window's number (-1 for slots)
    epoch: str  # the store's incarnation: a restarted store starts from zero


@dataclass(frozen=True, slots=True)
class Return:
    bucket: str
    window: int
    epoch: str
    amount: int


def lease_extra(limit: int) -> int:
    """The most a replica leases beyond its need: nothing for small limits (a 10 rpm rule is
    decided one request at a time), a twentieth of larger ones."""
    return limit // LEASE_OF_LIMIT


class CounterStore:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.epoch = uuid.uuid4().hex[:12]
        self._clock = clock
        self._windows: dict[str, tuple[int, int, float]] = {}  # bucket -> (window, used, end)
        self._slots: dict[str, int] = {}
        self._takes = 0

    def take(self, asks: Sequence[Ask], returns: Sequence[Return] = ()) -> list[Grant]:
        """Grants for `asks`, after taking back `returns` (what the asking replica owes)."""
        self.give_back(returns)
        now = self._clock()
        self._takes += 1
        if self._takes % SWEEP_EVERY == 0:
            self._sweep(now)
        return [self._take(ask, now) for ask in asks]

    def give_back(self, returns: Sequence[Return]) -> None:
        """Unused allowance: counted again only if it is still the same window of the same
        store (a lease of a past window or of the store before a restart is dropped). A
        negative amount is a charge: tokens a request used beyond its reservation."""
        for r in returns:
            if r.epoch != self.epoch or r.amount == 0:
                continue
            if r.window < 0:
                if r.amount < 0:
                    continue
                self._slots[r.bucket] = max(0, self._slots.get(r.bucket, 0) - r.amount)
                continue
            current = self._windows.get(r.bucket)
            if current is not None and current[0] == r.window:
                self._windows[r.bucket] = (r.window, max(0, current[1] - r.amount), current[2])

    def _take(self, ask: Ask, now: float) -> Grant:
        if ask.window_s <= 0:
            used = self._slots.get(ask.bucket, 0)
            granted = _grant(ask, ask.limit - used)
            self._slots[ask.bucket] = used + granted
            return Grant(granted, ask.limit - used - granted, 0.0, -1, self.epoch)
        window = math.floor(now / ask.window_s)
        end = (window + 1) * ask.window_s
        current = self._windows.get(ask.bucket)
        used = current[1] if current is not None and current[0] == window else 0
        granted = _grant(ask, ask.limit - used)
        self._windows[ask.bucket] = (window, used + granted, end)
        return Grant(granted, ask.limit - used - granted, end - now, window, self.epoch)

    def _sweep(self, now: float) -> None:
        self._windows = {b: w for b, w in self._windows.items() if w[2] > now}
        self._slots = {b: n for b, n in self._slots.items() if n > 0}

    def used(self, bucket: str) -> int:
        """What the current window of `bucket` has granted and not had back (introspection)."""
        current = self._windows.get(bucket)
        return current[1] if current is not None else self._slots.get(bucket, 0)

    def buckets(self) -> int:
        return len(self._windows) + len(self._slots)


def _grant(ask: Ask, left: int) -> int:
    if left >= ask.full:
        return ask.full + max(0, min(ask.extra, (left - ask.full) // LEASE_SHARE))
    return left if left >= ask.least and left > 0 else 0
