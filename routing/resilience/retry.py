"""Which failures are worth another attempt, how long to wait before it, and the retry
budget that keeps a brown-out from turning into a retry storm."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from core.errors import ModelError, ModelRateLimited, ModelTimeout
from routing.resilience.policy import RetryPolicy


def outcome_of(exc: BaseException) -> str:
    """A short label of a failed attempt: the upstream status, `timeout`, or `error`."""
    if isinstance(exc, ModelTimeout):
        return "timeout"
    if isinstance(exc, ModelError) and exc.upstream_status:
        return str(exc.upstream_status)
    return "error"


def is_failover(exc: BaseException) -> bool:
    """A failure of the model, not of the request: 429, 5xx (529 included), a connection
    lost or refused, a missed deadline. Another attempt may answer; a 4xx other than 429
    (the request itself is wrong) would only fail again."""
    if not isinstance(exc, ModelError):
        return False
    status = exc.upstream_status
    return status is None or status == 429 or status >= 500


def retry_after_s(exc: BaseException, now_wall: float) -> float | None:
    """The upstream's Retry-After in seconds, when the failure carried one."""
    if not isinstance(exc, ModelRateLimited) or not exc.retry_after:
        return None
    value = exc.retry_after
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now_wall)
    except (TypeError, ValueError):
        return None


def backoff_s(policy: RetryPolicy, retry: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter (AWS architecture blog): uniform in
    [0, min(max, base * 2^(retry-1))], so retries of many clients spread out."""
    ceiling = min(policy.backoff_max_s, policy.backoff_base_s * (2 ** max(retry - 1, 0)))
    return (rng or random).uniform(0.0, ceiling)


@dataclass(slots=True)
class RetryBudget:
    """Retries <= ratio x first attempts over a sliding window, per target (plus a floor)."""

    ratio: float
    window_s: float
    floor: int
    firsts: deque[float] = field(default_factory=deque)
    retries: deque[float] = field(default_factory=deque)

    def _trim(self, now: float) -> None:
        horizon = now - self.window_s
        for times in (self.firsts, self.retries):
            while times and times[0] < horizon:
                times.popleft()

    def first_attempt(self, now: float) -> None:
        self.firsts.append(now)

    def try_retry(self, now: float) -> bool:
        """Spend one retry if the budget has one."""
        self._trim(now)
        if len(self.retries) >= max(self.floor, int(self.ratio * len(self.firsts))):
            return False
        self.retries.append(now)
        return True


class RetryBudgets:
    """One budget per target, made on first use."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self._budgets: dict[str, RetryBudget] = {}

    def of(self, target: str) -> RetryBudget:
        budget = self._budgets.get(target)
        if budget is None:
            p = self.policy
            budget = RetryBudget(p.budget_ratio, p.budget_window_s, p.budget_floor)
            self._budgets[target] = budget
        return budget
