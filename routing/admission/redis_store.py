"""The shared counters in Redis (`AIGW_LIMITS__REDIS_URL`): the same grants and returns as
`CounterStore`, for operators who run several Ray clusters behind one budget.

Every call is one Lua script (EVALSHA, loaded again when Redis answers NOSCRIPT), which Redis
runs alone: each grant sees every grant before it, from every replica of every cluster, as
the actor's one-call-at-a-time does. Windows are fixed windows on Redis's own clock (`TIME`),
so no two replicas disagree on where a window ends, however their clocks drift.

Keys, all under `aigw:adm:`: `epoch` (created once, never expires: when Redis restarts empty
a new one is made, and leases of the old one count for nothing, as with a restarted actor);
a hash {w: window, u: used} per window bucket, expiring at its window's end; an integer per
slots bucket, with a safety TTL refreshed on every write, so nothing stays once idle.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from routing.admission.leases import StoreUnavailable
from routing.admission.store import LEASE_SHARE, Ask, Grant, Return

logger = logging.getLogger("aigw.admission")

PREFIX = "aigw:adm:"
EPOCH_KEY = PREFIX + "epoch"
SLOT_TTL_S = 3600  # a slots bucket nobody took from or gave back to for an hour is dropped
CONNECT_TIMEOUT_S = 1.0
SOCKET_TIMEOUT_S = 2.0

# KEYS: the epoch, the buckets of the returns, the buckets of the asks.
# ARGV: a fresh epoch (used if there is none), the number of returns, the slots' TTL, then
# (window, epoch, amount) per return and (limit, window_us, least, full, extra) per ask.
# Times are integral microseconds (exact in a double up to 2^53, i.e. for ~285 years).
# Reply: the epoch, then (granted, remaining, reset_us, window) per ask.
SCRIPT = """
local function num(v) return string.format('%d', v) end
local function grant(left, least, full, extra)
  if left >= full then
    return full + math.max(0, math.min(extra, math.floor((left - full) / LEASE_SHARE)))
  end
  if left >= least and left > 0 then return left end
  return 0
end
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  redis.call('SET', KEYS[1], ARGV[1], 'NX')
  epoch = ARGV[1]
end
local nr, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
local a = 4
for i = 1, nr do
  local key, window, owner, amount = KEYS[1 + i], tonumber(ARGV[a]), ARGV[a + 1],
    tonumber(ARGV[a + 2])
  a = a + 3
  if owner == epoch and amount ~= 0 then
    if window < 0 then
      if amount > 0 then
        local left = tonumber(redis.call('GET', key) or '0') - amount
        if left > 0 then redis.call('SET', key, num(left), 'EX', ttl)
        else redis.call('DEL', key) end
      end
    else
      local cur = redis.call('HMGET', key, 'w', 'u')
      if cur[1] and tonumber(cur[1]) == window then
        redis.call('HSET', key, 'u', num(math.max(0, tonumber(cur[2]) - amount)))
      end
    end
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {epoch}
local j = 1 + nr
while a <= #ARGV do
  j = j + 1
  local key, limit, window_us = KEYS[j], tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local least, full, extra = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  a = a + 5
  if window_us <= 0 then
    local used = tonumber(redis.call('GET', key) or '0')
    local granted = grant(limit - used, least, full, extra)
    if granted > 0 then redis.call('SET', key, num(used + granted), 'EX', ttl) end
    table.insert(out, granted); table.insert(out, limit - used - granted)
    table.insert(out, 0); table.insert(out, -1)
  else
    local window = math.floor(now / window_us)
    local ends = (window + 1) * window_us
    local cur = redis.call('HMGET', key, 'w', 'u')
    local used = 0
    if cur[1] and tonumber(cur[1]) == window then used = tonumber(cur[2]) end
    local granted = grant(limit - used, least, full, extra)
    redis.call('HSET', key, 'w', num(window), 'u', num(used + granted))
    redis.call('PEXPIREAT', key, num(math.ceil(ends / 1000)))
    table.insert(out, granted); table.insert(out, limit - used - granted)
    table.insert(out, ends - now); table.insert(out, window)
  end
end
return out
""".replace("LEASE_SHARE", str(LEASE_SHARE))


def masked(url: str) -> str:
    """`url` fit for a log line: its user and password replaced by `***`."""
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:  # not a URL we can take apart: show none of it
        return "<redis url>"


class RedisStore:
    """A replica's client of the counters in Redis. Any Redis or network failure is
    `StoreUnavailable` (the caller bounds the wait and decides by its rules); the connection
    pool connects again by itself on the next call once Redis is back."""

    def __init__(self, url: str) -> None:
        self.where = masked(url)
        self._password = urlsplit(url).password or ""
        # No retries: a script whose answer was lost may have run, and running it again
        # would take twice. The next request's call is the retry.
        self._client: Any = redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self._client.register_script(SCRIPT)  # EVALSHA; loaded on NOSCRIPT
        self.calls = 0

    async def take(self, asks: Sequence[Ask], returns: Sequence[Return] = ()) -> list[Grant]:
        keys = [EPOCH_KEY]
        args: list[str | int] = [uuid.uuid4().hex[:12], len(returns), SLOT_TTL_S]
        for r in returns:
            keys.append(PREFIX + r.bucket)
            args += [r.window, r.epoch, r.amount]
        for ask in asks:
            keys.append(PREFIX + ask.bucket)
            args += [ask.limit, round(ask.window_s * 1_000_000), ask.least, ask.full, ask.extra]
        self.calls += 1
        try:
            reply = await self._script(keys=keys, args=args)
        except asyncio.CancelledError:
            raise
        except (RedisError, OSError) as exc:
            self._lost(exc)
            raise StoreUnavailable(f"redis at {self.where}: {type(exc).__name__}") from None
        epoch = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        return [
            Grant(int(reply[i]), int(reply[i + 1]), int(reply[i + 2]) / 1_000_000,
                  int(reply[i + 3]), epoch)
            for i in range(1, len(reply), 4)
        ]  # fmt: skip

    async def give_back(self, returns: Sequence[Return]) -> None:
        if returns:
            await self.take((), returns)

    def _lost(self, exc: BaseException) -> None:
        detail = str(exc)
        if self._password:
            detail = detail.replace(self._password, "***")
        logger.warning(
            "admission store redis at %s unavailable: %s: %s",
            self.where,
            type(exc).__name__,
            detail,
        )

    async def aclose(self) -> None:
        await self._client.aclose()
