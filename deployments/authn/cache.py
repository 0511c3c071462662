"""Positive auth decisions per (token hash, checked headers) until min(exp, TTL), LRU-bounded."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from core.types import Identity


class DecisionCache:
    def __init__(self, max_size: int, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self.max_size = max_size
        self.ttl_s = ttl_s
        self._clock = clock
        self._items: OrderedDict[Hashable, tuple[float, Identity]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> Identity | None:
        item = self._items.get(key)
        if item is None:
            return None
        until, identity = item
        if self._clock() >= until:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return identity

    def put(self, key: Hashable, identity: Identity, expires_at: float) -> None:
        """Keep `identity` until `expires_at` (unix seconds) or the TTL, whichever comes first."""
        if self.max_size <= 0 or self.ttl_s <= 0:
            return
        until = min(expires_at, self._clock() + self.ttl_s)
        if until <= self._clock():
            return
        self._items[key] = (until, identity)
        self._items.move_to_end(key)
        while len(self._items) > self.max_size:
            self._items.popitem(last=False)
