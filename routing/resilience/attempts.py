"""One request's attempts: which target next (breakers, retries, the retry budget, deadlines,
the request's place at a gated backend), and what each outcome does to the shared state."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from core.errors import AdmissionRefusal, GatewayError, ModelTimeout, ModelUnavailable
from core.types import ModelRequest, ModelTarget, Timeouts
from routing.resilience.breaker import CLOSED, DENY, OPEN, PROBE, STATE_VALUE
from routing.resilience.retry import backoff_s, is_failover, outcome_of
from routing.resilience.retry import retry_after_s as retry_after_of
from routing.resilience.route import Place, Route, settle

if TYPE_CHECKING:
    from routing.resilience.engine import Resilience


class Attempts:
    """The state of one request's attempts: which target, how many tries, the last failure."""

    def __init__(self, engine: Resilience, route: Route, request: ModelRequest) -> None:
        self.engine = engine
        self.policy = policy = engine.policy
        self.route = route
        self.record = route.record
        self.record.policy = policy.version
        self.switches = policy.switches(route.feature)
        self.version = {"policy_version": policy.version}
        self.shared = engine.shared if policy.shared_breakers else None
        if self.shared is not None:
            self.shared.start()
        first_key = route.candidates[0][0]
        now = engine.clock()
        total = engine.deadlines(route.feature, first_key).total_s or 120.0
        self.deadline = now + total
        self.request = request
        self.index = 0
        self.tries = 0
        self.last_exc: BaseException | None = None
        self.retry_after: float | None = None
        self.step: tuple[str, ModelTarget, bool] | None = None  # key, target, probe
        self.extra: Any = None
        self.content_started = False

    # -- choosing the next attempt -----------------------------------------------------
    def _advance(self) -> None:
        self.index += 1
        self.tries = 0
        self.retry_after = None

    async def next(self) -> ModelRequest | None:
        engine, candidates = self.engine, self.route.candidates
        while self.index < len(candidates):
            key, target = candidates[self.index]
            now = engine.clock()
            if now >= self.deadline:
                return None
            if self.tries == 0:
                if self.index > 0 and not self.switches.fallback:
                    return None
                if self.index > 0 and not await self._build(target):
                    self._advance()
                    continue
                verdict = engine.breakers.admit(key, now)
                if verdict == DENY:
                    self._denied(key)
                    continue
                place = self.route.place  # None unless admission has a hold to move
                if (
                    place is not None
                    and (self.index > 0 or place.backend != target.backend)
                    and not await self._move(place, key, target, verdict)
                ):
                    continue
                engine.budgets.of(key).first_attempt(now)
                if self.index > 0:
                    self.record.fallbacks += 1
                    tags = {"feature": self.route.feature, "from": candidates[0][0], "to": key}
                    engine.metrics.fallbacks.record(1, {**tags, **self.version})
            else:
                retry = await self._retry_verdict(key)
                if retry is None:
                    self._advance()
                    continue
                verdict = retry
            self.tries += 1
            self.step = (key, target, verdict == PROBE)
            return self._with_deadlines(key)
        return None

    async def _build(self, target: ModelTarget) -> bool:
        """The call for a fallback target (its own prompt); False when it cannot have one."""
        rebuild = self.route.rebuild
        try:
            if rebuild is None:
                self.request = self.request.model_copy(update={"target": target})
                self.extra = None
            else:
                request, extra = await rebuild(target)
                self.request, self.extra = self._capped(request, extra, self.route.max_tokens)
        except GatewayError:  # no prompt for it, say: the failure to report is the first's
            return False
        return True

    def _capped(
        self, request: ModelRequest, extra: Any, cap: int | None
    ) -> tuple[ModelRequest, Any]:
        """A call asking for no more than admission reserved for the answer (a rebuilt
        fallback's own default may be larger than what a `shrink` rule left)."""
        if cap is None or (request.max_tokens is not None and request.max_tokens <= cap):
            return request, extra
        capped = request.model_copy(update={"max_tokens": cap})
        if extra is request:
            extra = capped
        elif getattr(extra, "request", None) is request:  # the flow's assembled prompt
            extra = extra.model_copy(update={"request": capped})
        return capped, extra

    async def _move(self, place: Place, key: str, target: ModelTarget, verdict: str) -> bool:
        """The request's place moved to `target`'s backend before it is called there; False
        when that backend's gate sheds it (the next target is tried; the failure reported
        stays the one that made the request move)."""
        try:
            cap = await place.move(target, self.request.max_tokens)
        except AdmissionRefusal as exc:
            self._release(key, verdict)
            self.record.tried.append(f"{key}:shed")
            if self.last_exc is None:
                self.last_exc = exc
            self._advance()
            return False
        except BaseException:  # the client left while it waited: no call, no probe held
            self._release(key, verdict)
            raise
        if cap is not None:
            self.request, self.extra = self._capped(self.request, self.extra, cap)
        return True

    def _denied(self, key: str) -> None:
        self.record.breakers.append(f"{key}:open")
        if self.last_exc is None:
            self.last_exc = ModelUnavailable(f"circuit open for {key}")
        self._advance()

    async def _retry_verdict(self, key: str) -> str | None:
        """Whether (and after what wait) this target gets another try: None when not."""
        engine, p = self.engine, self.policy.retry
        if (
            self.tries >= p.attempts_per_target
            or not self.switches.retry
            or self.last_exc is None
            or not is_failover(self.last_exc)
        ):
            return None
        wait = self.retry_after
        if wait is not None and wait > p.retry_after_cap_s:
            return None
        hung = isinstance(self.last_exc, ModelTimeout) and not self.content_started
        if hung and self._can_fall_back():  # it likely hangs again: the next target
            return None  # answers within one first-byte deadline
        now = engine.clock()
        verdict = engine.breakers.admit(key, now)
        if verdict == DENY:
            self.record.breakers.append(f"{key}:open")
            return None
        if not engine.budgets.of(key).try_retry(now):
            self.record.budget_exhausted = True
            engine.metrics.budget_exhausted.record(1, {"target": key, **self.version})
            self._release(key, verdict)
            return None
        wait = max(wait or 0.0, backoff_s(p, self.tries, engine.rng))
        if now + wait >= self.deadline:
            self._release(key, verdict)
            return None
        if wait > 0:
            try:
                await engine.sleep(wait)
            except BaseException:  # cancelled while backing off: the probe was never sent
                self._release(key, verdict)
                raise
        engine.metrics.retries.record(1, {"target": key, **self.version})
        return verdict

    def _can_fall_back(self) -> bool:
        return self.switches.fallback and self.index + 1 < len(self.route.candidates)

    def _release(self, key: str, verdict: str) -> None:
        if verdict == PROBE:
            self.engine.breakers.of(key).release()

    def _with_deadlines(self, key: str) -> ModelRequest:
        d = self.engine.deadlines(self.route.feature, key)
        left = max(self.deadline - self.engine.clock(), 0.001)
        own = self.request.timeouts
        timeouts = Timeouts(  # built, not model_copy'd: two thirds of the cost (hot path)
            total_s=own.total_s,
            first_byte_s=own.first_byte_s,
            connect_s=d.connect_s,
            stall_s=d.stall_s,
            max_total_s=left,
            max_first_byte_s=min(d.first_byte_s or left, left),
        )
        return self.request.model_copy(update={"timeouts": timeouts})

    # -- outcomes ----------------------------------------------------------------------
    def first_content(self) -> None:
        """A stream's first text: from here its answer names this target (the response
        head goes out with it)."""
        self.content_started = True
        self._served()
        settle(self.route)

    def _served(self) -> None:
        assert self.step is not None
        self.record.served = self.step[0]
        self.route.served_target = self.step[1]
        self.route.served_extra = self.extra

    def resumed(self) -> None:
        self.record.resumes += 1
        key = self.step[0] if self.step else ""
        tags = {"feature": self.route.feature, "target": key, **self.version}
        self.engine.metrics.resumes.record(1, tags)

    def succeeded(self) -> None:
        assert self.step is not None
        key, _target, probe = self.step
        engine = self.engine
        now = engine.clock()
        breaker = engine.breakers.of(key)
        was = breaker.state
        breaker.success(now)
        if was != CLOSED:
            self._gauge(key, CLOSED)
        engine.metrics.attempts.record(1, {"target": key, "outcome": "ok", **self.version})
        if self.shared is not None:
            report = self.shared.report(key)
            report.ok += 1
            if probe:
                report.probe = "ok"
        self._served()

    def failed(self, exc: BaseException) -> None:
        """Count a failed attempt; re-raise `exc` when no other attempt may help (a bad
        request, a cancelled call, a bug)."""
        assert self.step is not None
        key, _target, probe = self.step
        engine = self.engine
        breaker = engine.breakers.of(key)
        if not is_failover(exc):
            if probe:
                breaker.release()
            if isinstance(exc, Exception):
                outcome = outcome_of(exc)
                engine.metrics.attempts.record(
                    1, {"target": key, "outcome": outcome, **self.version}
                )
                self.record.tried.append(f"{key}:{outcome}")
            raise exc
        now = engine.clock()
        outcome = outcome_of(exc)
        self.record.tried.append(f"{key}:{outcome}")
        engine.metrics.attempts.record(1, {"target": key, "outcome": outcome, **self.version})
        retry_after = retry_after_of(exc, time.time())
        opened = breaker.failure(now, retry_after)
        if opened:
            self._gauge(key, OPEN)
        if self.shared is not None:
            report = self.shared.report(key)
            report.failed += 1
            report.retry_after_s = max(report.retry_after_s, retry_after or 0.0)
            if opened:
                report.opened_until = breaker.open_until
            if probe:
                report.probe = "failed"
        self.last_exc = exc
        self.retry_after = retry_after

    def _gauge(self, key: str, state: str) -> None:
        tags = {"target": key, **self.version}
        self.engine.metrics.breaker_state.record(STATE_VALUE[state], tags)

    def final_error(self) -> BaseException:
        if self.last_exc is not None:
            return self.last_exc
        return ModelTimeout("the request's total deadline passed before any answer")
