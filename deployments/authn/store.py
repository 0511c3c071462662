"""The merged key set: every source's last good keys, refreshed when stale or on an unknown kid.

- `lookup(kid)` is synchronous: a known key costs no I/O and no await.
- `find(kid)` re-fetches the sources that may be asked again (never asked, or not within
  `min_interval_s`: the rate limit for unknown kids) concurrently and returns as soon as one of
  them has the kid, so a slow or dead issuer delays nobody whose key another source holds.
- Keys older than `ttl_s` are refreshed in the background while the old ones keep serving.
- A source that fails keeps its previous keys; the failure is logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from core.types import KeySetSnapshot, PublicJwk
from deployments.authn.keys import LOCAL_SOURCE, KeyEntry, KeySource, entries_from

logger = logging.getLogger("aigw.auth.keys")


class KeyStore:
    def __init__(
        self,
        sources: Sequence[KeySource],
        *,
        ttl_s: float,
        min_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sources = {source.name: source for source in sources}
        self.ttl_s = ttl_s
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._jwks: dict[str, tuple[PublicJwk, ...]] = {}
        self._entries: dict[str, tuple[KeyEntry, ...]] = {}
        self._index: dict[str, tuple[KeyEntry, ...]] = {}
        self._all: tuple[KeyEntry, ...] = ()
        self._asked_at: dict[str, float] = {}
        self._loaded_at: dict[str, float] = {}
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._stale_at = float("inf")
        self.fetches = 0  # source fetches started, for stats and tests

    # -- reading (hot path) --------------------------------------------------------------
    def lookup(self, kid: str | None) -> tuple[KeyEntry, ...]:
        """Entries for `kid`; every entry when the token names none."""
        if kid is None:
            return self._all
        return self._index.get(kid, ())

    @property
    def empty(self) -> bool:
        return not self._all

    def snapshot(self) -> KeySetSnapshot:
        return KeySetSnapshot(keys=tuple(jwk for jwks in self._jwks.values() for jwk in jwks))

    def refresh_stale(self) -> None:
        """Start background refreshes of sources older than the TTL; never waits."""
        now = self._clock()
        if now < self._stale_at:
            return
        for name in self._sources:
            loaded = self._loaded_at.get(name)
            if loaded is not None and now - loaded >= self.ttl_s and self._may_ask(name, now):
                self._start(name, None)
        self._update_stale_at(now)

    # -- refreshing ----------------------------------------------------------------------
    def prefetch(self) -> None:
        """Start fetching every source never asked yet, without waiting, so the first request
        of a new replica finds the keys already there. A no-op outside an event loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        for name in self._sources:
            if name not in self._asked_at:
                self._start(name, None)

    async def find(self, kid: str | None) -> tuple[KeyEntry, ...]:
        """Ask again every source that may be asked; return once `kid` is known (or all
        answered). `kid=None` waits for every source asked."""
        now = self._clock()
        pending: set[asyncio.Task[None]] = set()
        for name in self._sources:
            task = self._running(name)
            if task is None and self._may_ask(name, now):
                task = self._start(name, kid)
            if task is not None:
                pending.add(task)
        while pending and not (kid is not None and kid in self._index):
            _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        return self.lookup(kid)

    def _may_ask(self, name: str, now: float) -> bool:
        asked = self._asked_at.get(name)
        return asked is None or now - asked >= self.min_interval_s

    def _running(self, name: str) -> asyncio.Task[None] | None:
        task = self._inflight.get(name)
        if task is None or task.done():
            return None
        # A task of another (finished) event loop cannot be awaited here: start afresh, and
        # do not let its start count against the rate limit.
        if task.get_loop() is not asyncio.get_running_loop():
            del self._inflight[name]
            self._asked_at.pop(name, None)
            return None
        return task

    def _start(self, name: str, kid: str | None) -> asyncio.Task[None]:
        running = self._running(name)
        if running is not None:
            return running
        self._asked_at[name] = self._clock()
        self.fetches += 1
        task = asyncio.get_running_loop().create_task(self._fetch(name, kid))
        self._inflight[name] = task
        return task

    async def _fetch(self, name: str, kid: str | None) -> None:
        source = self._sources[name]
        try:
            jwks = await source.fetch(kid)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning(
                "key source %s unavailable, keeping its %d previous keys: %s: %s",
                name,
                len(self._entries.get(name, ())),
                type(exc).__name__,
                str(exc)[:200],
            )
            return
        entries = tuple(entries_from(jwks))
        self._jwks[name] = tuple(jwks)
        self._entries[name] = entries
        self._loaded_at[name] = self._clock()
        self._rebuild()
        self._update_stale_at(self._clock())
        logger.info("key source %s refreshed: kids %s", name, sorted({e.kid for e in entries}))

    def _rebuild(self) -> None:
        index: dict[str, list[KeyEntry]] = {}
        everything: list[KeyEntry] = []
        for entries in self._entries.values():
            for entry in entries:
                index.setdefault(entry.kid, []).append(entry)
                everything.append(entry)
        # The gateway's own kids name roles, not keys: after a yearly rotation a token minted
        # as `<service>_signing_key` verifies with today's validation key. Try both.
        local = [entry for entry in everything if entry.source == LOCAL_SOURCE]
        for entry in local:
            index[entry.kid] += [other for other in local if other not in index[entry.kid]]
        self._index = {kid: tuple(found) for kid, found in index.items()}
        self._all = tuple(everything)

    def _update_stale_at(self, now: float) -> None:
        stale = [loaded + self.ttl_s for loaded in self._loaded_at.values()]
        # Re-check no sooner than the rate limit allows, so a failing source is not hammered.
        self._stale_at = max(min(stale, default=float("inf")), now + self.min_interval_s)


# The ingress's copy of the Auth deployment's key set (DESIGN.md rule 5): refreshed from Auth at
# least this often, and asked again for an unknown kid at most once per interval (Auth
# rate-limits the issuers itself).
INGRESS_COPY_TTL_S = 300.0
INGRESS_COPY_REFRESH_INTERVAL_S = 1.0


def ingress_copy(auth_deployment: KeySource, ttl_s: float, min_interval_s: float) -> KeyStore:
    """A key store whose only source is the Auth deployment, never staler than Auth's own
    (`ttl_s`, `min_interval_s`: Auth's settings)."""
    return KeyStore(
        [auth_deployment],
        ttl_s=min(INGRESS_COPY_TTL_S, ttl_s),
        min_interval_s=min(INGRESS_COPY_REFRESH_INTERVAL_S, min_interval_s),
    )
