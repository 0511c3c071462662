"""The attempt loop: one request tried on its route's targets in order, with retries,
deadlines, breakers and the retry budget; a stream cut after content continues on the next
attempt from the text already sent (resume), spliced into the same stream."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from core.errors import GatewayError, ModelTimeout, ModelUnavailable
from core.types import Chunk, Message, ModelRequest, ModelResult, ModelTarget
from routing.resilience.breaker import CLOSED, DENY, OPEN, PROBE, STATE_VALUE, Breakers
from routing.resilience.metrics import RoutingMetrics
from routing.resilience.policy import Deadlines, RoutingPolicy
from routing.resilience.retry import RetryBudgets, backoff_s, is_failover, outcome_of
from routing.resilience.retry import retry_after_s as retry_after_of
from routing.resilience.route import Route, key_of, settle
from routing.resilience.shared import SharedBreakers

Call = Callable[[ModelRequest], Awaitable[ModelResult]]
Open = Callable[[ModelRequest], AsyncIterator[Chunk]]


class Resilience:
    """A replica's routing policy at work: breakers, budgets and metrics live as long as the
    replica; `reload` swaps the policy without losing them."""

    def __init__(
        self,
        policy: RoutingPolicy | None = None,
        metrics: RoutingMetrics | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy = policy or RoutingPolicy()
        self.metrics = metrics or RoutingMetrics()
        self.breakers = Breakers(policy.breaker)
        self.budgets = RetryBudgets(policy.retry)
        self.shared: SharedBreakers | None = None
        self.clock, self.sleep, self.rng = clock, sleep, rng
        self._deadlines: dict[tuple[str, str], Deadlines] = {}
        self.metrics.activated(policy.version)

    def deadlines(self, feature: str, target: str) -> Deadlines:
        """The policy's deadlines of `target` for `feature`, merged once per policy."""
        found = self._deadlines.get((feature, target))
        if found is None:
            found = self._deadlines[(feature, target)] = self.policy.deadlines_for(feature, target)
        return found

    def reload(self, policy: RoutingPolicy) -> None:
        self.metrics.activated(policy.version, self.policy.version)
        self.policy = policy
        self._deadlines = {}
        self.breakers.policy = policy.breaker
        for breaker in self.breakers.local.values():
            breaker.policy = policy.breaker
        self.budgets.policy = policy.retry
        self.budgets._budgets.clear()  # their ratio and window may have changed
        if self.shared is not None and policy.shared_breakers:
            # Learn the graph's states before the first request needs them (with no event
            # loop here, the first request starts the sync instead).
            with contextlib.suppress(RuntimeError):
                self.shared.start()

    def route_of(self, request: ModelRequest, route: Route | None) -> Route:
        if route is not None and (route.first is request.target or route.first == request.target):
            route.served_target = route.served_extra = None  # a flow's next call starts over
            return route
        target = request.target
        return Route(feature=route.feature if route else "", candidates=[(key_of(target), target)])

    async def generate(self, request: ModelRequest, call: Call, route: Route | None) -> ModelResult:
        if not self.policy.enabled:
            result = await call(request)
            self._plain(request, route)
            return result
        attempts = _Attempts(self, self.route_of(request, route), request)
        while (step := await attempts.next()) is not None:
            try:
                result = await call(step)
            except BaseException as exc:
                attempts.failed(exc)  # re-raises what no other attempt can help
                continue
            attempts.succeeded()
            return result
        raise attempts.final_error()

    async def stream(
        self, request: ModelRequest, open_stream: Open, route: Route | None
    ) -> AsyncIterator[Chunk]:
        if not self.policy.enabled:
            started = False
            async for chunk in open_stream(request):
                if chunk.text and not started:  # before the response head goes out with it
                    started = True
                    self._plain(request, route)
                yield chunk
            return
        attempts = _Attempts(self, self.route_of(request, route), request)
        sent: list[str] = []
        while (step := await attempts.next()) is not None:
            dangling = ""  # whitespace a chat prefill drops and the model writes again
            if sent:
                if not attempts.switches.resume:
                    break
                step, dangling = resumed(step, "".join(sent))
                attempts.resumed()
            chunks = open_stream(step)
            # An attempt's tool calls go out when it ends cleanly: half a tool call cannot be
            # continued, so a cut one is dropped and the resumed attempt, continuing from the
            # text, makes the call again (tool calls end a model's turn; no flow acts on one
            # before the stream ends).
            held: list[Chunk] = []
            try:
                async for chunk in chunks:
                    if chunk.tool_calls or chunk.tool_call_chunks:
                        calls, pieces = chunk.tool_calls, chunk.tool_call_chunks
                        held.append(Chunk("", tool_calls=calls, tool_call_chunks=pieces))
                        chunk.tool_calls, chunk.tool_call_chunks = [], []
                        if not (chunk.text or chunk.final):
                            continue
                    if chunk.text:
                        if dangling:
                            text = chunk.text
                            if text.startswith(dangling):
                                chunk.text = text[len(dangling) :]
                            dangling = ""
                            if not chunk.text:
                                continue
                        if not sent:
                            attempts.first_content()
                        sent.append(chunk.text)
                    yield chunk
            except BaseException as exc:
                attempts.failed(exc)
                continue
            finally:
                aclose = getattr(chunks, "aclose", None)
                if aclose is not None:
                    await aclose()
            attempts.succeeded()
            for chunk in held:
                yield chunk
            return
        raise attempts.final_error()

    def _plain(self, request: ModelRequest, route: Route | None) -> None:
        """With the policy off, the answer still names what served it (one plain attempt)."""
        used = self.route_of(request, route)
        used.record.served, used.record.policy = used.key_of(request.target), self.policy.version
        settle(used)


def resumed(request: ModelRequest, sent: str) -> tuple[ModelRequest, str]:
    """The call that continues an answer from `sent`: an assistant prefill for a chat model,
    the prompt extended for a completion model; and the whitespace the prefill loses."""
    if request.kind == "chat" or request.target.completion.type == "chat":
        # A chat model asked with one text prompt (Claude for completions) takes it as the
        # user turn: continued the same way, as a chat.
        if request.kind == "chat":
            messages = list(request.messages)
        else:
            messages = [Message(role="user", content=request.prefix)]
        if messages and messages[-1].role == "assistant":
            last = messages[-1]
            messages[-1] = Message(role="assistant", content=last.content + sent)
        else:
            messages.append(Message(role="assistant", content=sent))
        dangling = sent[len(sent.rstrip()) :]
        return request.model_copy(update={"kind": "chat", "messages": messages}), dangling
    return request.model_copy(update={"prefix": request.prefix + sent}), ""


class _Attempts:
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
                self.request, self.extra = await rebuild(target)
        except GatewayError:  # no prompt for it, say: the failure to report is the first's
            return False
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
            await engine.sleep(wait)
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
        timeouts = self.request.timeouts.model_copy(
            update={
                "connect_s": d.connect_s,
                "stall_s": d.stall_s,
                "max_first_byte_s": min(d.first_byte_s or left, left),
                "max_total_s": left,
            }
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
