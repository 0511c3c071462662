"""What one replica holds of the shared budget: leases taken from the store, spent by local
decrements on the hot path, refilled when they run out and handed back when idle."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from routing.admission.store import Ask, CounterStore, Grant, Return

IDLE_RETURN_S = 0.25  # a lease untouched this long goes back to the store
RETURN_WAIT_S = 2.0


class StoreUnavailable(Exception):
    """The shared store did not answer within the bounded wait."""


class StoreClient(Protocol):
    async def take(self, asks: Sequence[Ask], returns: Sequence[Return] = ()) -> list[Grant]: ...
    async def give_back(self, returns: Sequence[Return]) -> None: ...


class InProcessStore:
    """The store in this process: unit tests, and a gateway run without Ray."""

    def __init__(self, store: CounterStore | None = None) -> None:
        self.store = store or CounterStore()
        self.calls = 0

    async def take(self, asks: Sequence[Ask], returns: Sequence[Return] = ()) -> list[Grant]:
        self.calls += 1
        return self.store.take(asks, returns)

    async def give_back(self, returns: Sequence[Return]) -> None:
        self.calls += 1
        self.store.give_back(returns)


@dataclass(slots=True)
class Lease:
    available: int
    window: int
    epoch: str
    ends_at: float  # monotonic end of the window (inf for slots)
    store_remaining: int  # what the store had left at the last grant (for headers)
    touched: float

    def remaining(self) -> int:
        return self.store_remaining + self.available

    def reset_s(self, now: float) -> int:
        return 0 if math.isinf(self.ends_at) else max(0, math.ceil(self.ends_at - now))


class LeaseBook:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._leases: dict[str, Lease] = {}
        self.pending: list[Return] = []  # units of a lease no longer in the book

    def get(self, bucket: str, now: float | None = None) -> Lease | None:
        """The bucket's lease while its window lasts (`now`: the caller's clock reading, one
        per request on the hot path rather than one per lookup)."""
        lease = self._leases.get(bucket)
        if lease is not None and lease.ends_at <= (self.clock() if now is None else now):
            del self._leases[bucket]  # its window is over: what it held is worth nothing
            return None
        return lease

    def available(self, bucket: str) -> int:
        lease = self.get(bucket)
        return lease.available if lease is not None else 0

    def spend(self, bucket: str, least: int, full: int) -> int:
        """Up to `full` units from the local lease, or 0 if it holds fewer than `least`."""
        lease = self.get(bucket)
        if lease is None or lease.available < max(least, 1):
            return 0
        taken = min(full, lease.available)
        lease.available -= taken
        lease.touched = self.clock()
        return taken

    def add(self, bucket: str, grant: Grant) -> Lease:
        now = self.clock()
        ends_at = math.inf if grant.window < 0 else now + grant.reset_s
        lease = self.get(bucket)
        if lease is None or lease.window != grant.window or lease.epoch != grant.epoch:
            lease = Lease(0, grant.window, grant.epoch, ends_at, grant.remaining, now)
            self._leases[bucket] = lease
        lease.available += grant.granted
        lease.store_remaining = grant.remaining
        lease.ends_at = ends_at
        lease.touched = now
        return lease

    def put_back(
        self, bucket: str, window: int, epoch: str, amount: int, now: float | None = None
    ) -> None:
        """Unused units of a finished request (or the slot it held): kept for the next
        request while their lease is in the book, else owed to the store (a slot must never
        leak, or the key stays one request short for good)."""
        if amount == 0:
            return
        now = self.clock() if now is None else now
        lease = self.get(bucket, now)
        if lease is not None and lease.window == window and lease.epoch == epoch:
            covered = max(amount, -lease.available)  # a charge is paid from the lease first
            lease.available += covered
            lease.touched = now
            amount -= covered
            if amount:
                self.pending.append(Return(bucket, window, epoch, amount))
        elif window < 0 or lease is None or amount < 0:
            self.pending.append(Return(bucket, window, epoch, amount))

    def surrender(self, bucket: str) -> None:
        """Owe what the lease holds to the store now, not when it goes idle."""
        lease = self.get(bucket)
        if lease is not None and lease.available > 0:
            self.pending.append(Return(bucket, lease.window, lease.epoch, lease.available))
            lease.available = 0

    def idle(self, older_than: float = IDLE_RETURN_S) -> list[Return]:
        """Take the leases nobody used lately out of the book, as returns for the store."""
        now = self.clock()
        returns, self.pending = self.pending, []
        for bucket in list(self._leases):
            lease = self.get(bucket)
            if lease is None or now - lease.touched < older_than:
                continue
            del self._leases[bucket]
            if lease.available > 0:
                returns.append(Return(bucket, lease.window, lease.epoch, lease.available))
        return returns


class Maintainer:
    """Hands idle leases back every `IDLE_RETURN_S` from a task of the replica's loop."""

    def __init__(self, book: LeaseBook, store: StoreClient) -> None:
        self.book, self.store = book, store
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(IDLE_RETURN_S)
            returns = self.book.idle()
            if returns:
                # A store that cannot take them back lost them anyway (it starts from zero);
                # nothing here may stop the loop.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.store.give_back(returns), RETURN_WAIT_S)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
