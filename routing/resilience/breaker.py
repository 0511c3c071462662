"""Circuit breakers per target. Each replica keeps its own (`Breaker`); `Breakers` overlays
the graph's shared view when the shared state actor answers (shared.py), and falls back to
the local breakers alone when it does not.

Times are wall-clock seconds (time.time()): breaker states cross replicas and nodes."""

from __future__ import annotations

from dataclasses import dataclass, field

from routing.resilience.policy import BreakerPolicy

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
STATE_VALUE = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}  # the circuit_breaker_state gauge
PASS, PROBE, DENY = "pass", "probe", "deny"


@dataclass(slots=True)
class Breaker:
    policy: BreakerPolicy
    state: str = CLOSED
    consecutive: int = 0
    window_start: float = 0.0
    window_total: int = 0
    window_failed: int = 0
    open_until: float = 0.0
    opened_at: float = 0.0
    probing: bool = False  # the one half-open probe is in flight
    probe_since: float = 0.0  # when it was sent: past the policy's grant, another may go

    def admit(self, now: float, may_probe: bool = True) -> str:
        """PASS (closed), PROBE (the half-open trial call, one at a time) or DENY."""
        if self.state == CLOSED:
            return PASS
        if self.state == OPEN:
            if now < self.open_until:
                return DENY
            self.state, self.probing = HALF_OPEN, False
        if not may_probe or (self.probing and now - self.probe_since < self.policy.probe_grant_s):
            return DENY
        self.probing, self.probe_since = True, now
        return PROBE

    def _count(self, now: float, failed: bool) -> None:
        if now - self.window_start > self.policy.window_s:
            self.window_start, self.window_total, self.window_failed = now, 0, 0
        self.window_total += 1
        self.window_failed += failed

    def success(self, now: float) -> None:
        self.consecutive = 0
        if self.state != CLOSED:  # the probe answered: the target is back
            self.state, self.probing = CLOSED, False
            self.window_start, self.window_total, self.window_failed = now, 0, 0
        self._count(now, False)

    def failure(self, now: float, retry_after_s: float | None = None) -> bool:
        """Count a failure; True when it opened the breaker."""
        self.consecutive += 1
        self._count(now, True)
        p = self.policy
        tripped = self.consecutive >= p.consecutive_failures or (
            self.window_total >= p.min_requests
            and self.window_failed / self.window_total >= p.error_rate
        )
        if self.state == HALF_OPEN or (self.state == CLOSED and tripped):
            self.trip(now, retry_after_s)
            return True
        if self.state == OPEN and retry_after_s:  # a longer Retry-After extends the cooldown
            self.open_until = max(self.open_until, now + min(retry_after_s, p.max_cooldown_s))
        return False

    def trip(self, now: float, retry_after_s: float | None = None, until: float = 0.0) -> None:
        p = self.policy
        cooldown = max(p.cooldown_s, min(retry_after_s or 0.0, p.max_cooldown_s))
        self.state, self.probing = OPEN, False
        self.opened_at = now
        self.open_until = max(until, now + cooldown)
        self.consecutive = 0
        self.window_start, self.window_total, self.window_failed = now, 0, 0

    def release(self) -> None:
        """A probe ended with no verdict (cancelled, or a failure of the request itself)."""
        self.probing = False


@dataclass(slots=True)
class SharedView:
    """The graph's state of one target, as the shared actor last said."""

    state: str
    until: float = 0.0
    probe_granted: bool = False  # this replica holds the graph's one half-open probe


@dataclass
class Breakers:
    """This replica's breakers, and the graph's view over them while it is fresh."""

    policy: BreakerPolicy
    local: dict[str, Breaker] = field(default_factory=dict)
    shared: dict[str, SharedView] = field(default_factory=dict)
    shared_fresh_until: float = 0.0  # past this the shared view is stale: local breakers only

    def of(self, target: str) -> Breaker:
        breaker = self.local.get(target)
        if breaker is None:
            breaker = self.local[target] = Breaker(self.policy)
        return breaker

    def admit(self, target: str, now: float) -> str:
        breaker = self.of(target)
        if now >= self.shared_fresh_until:
            return breaker.admit(now)
        view = self.shared.get(target)
        if view is None or view.state == CLOSED:
            # Opened here since the last sync: holds until the graph has heard of it.
            return breaker.admit(now, may_probe=False) if breaker.state != CLOSED else PASS
        if view.state == OPEN and now < view.until:
            return DENY
        # Half-open in the graph: only the replica the actor granted the probe sends it.
        return breaker.admit(now, may_probe=view.probe_granted)

    def state(self, target: str, now: float) -> str:
        view = self.shared.get(target) if now < self.shared_fresh_until else None
        if view is not None and view.state != CLOSED:
            return view.state
        return self.of(target).state

    def apply(self, views: dict[str, SharedView], fresh_until: float, sent_at: float) -> None:
        """Take the graph's view (as of a sync whose reports were taken at `sent_at`): its
        open and half-open targets are so here too; a target it calls closed closes here
        unless this replica opened it after those reports left."""
        self.shared, self.shared_fresh_until = views, fresh_until
        for target in views:
            self.of(target)
        for target, breaker in self.local.items():
            view = views.get(target)
            if view is None or view.state == CLOSED:
                if breaker.state != CLOSED and breaker.opened_at < sent_at:
                    breaker.state, breaker.probing = CLOSED, False
            elif view.state == OPEN:
                if breaker.state != OPEN or breaker.open_until < view.until:
                    breaker.state, breaker.open_until = OPEN, view.until
                    breaker.opened_at = max(breaker.opened_at, sent_at)
            elif breaker.state != HALF_OPEN:
                breaker.state, breaker.probing = HALF_OPEN, False
