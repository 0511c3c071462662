"""The attempt loop: one request tried on its route's targets in order, with retries,
deadlines, breakers and the retry budget (attempts.py chooses each attempt); a stream cut
after content continues on the next attempt from the text already sent (resume), spliced
into the same stream."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from core.types import Chunk, Message, ModelRequest, ModelResult
from routing.resilience.attempts import Attempts
from routing.resilience.breaker import Breakers
from routing.resilience.metrics import RoutingMetrics
from routing.resilience.policy import Deadlines, RoutingPolicy
from routing.resilience.retry import RetryBudgets
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
        if route is not None and route.starts_with(request.target):
            route.served_target = route.served_extra = None  # a flow's next call starts over
            return route
        target = request.target
        return Route(feature=route.feature if route else "", candidates=[(key_of(target), target)])

    async def generate(self, request: ModelRequest, call: Call, route: Route | None) -> ModelResult:
        if not self.policy.enabled:
            result = await call(request)
            self._plain(request, route)
            return result
        attempts = Attempts(self, self.route_of(request, route), request)
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
        self,
        request: ModelRequest,
        open_stream: Open,
        route: Route | None,
        settle_route: bool = False,
    ) -> AsyncIterator[Chunk]:
        """`settle_route`: when the stream ends, however it ends, put its route's record where
        the access log and the response find it (the gateway's streams: done here rather than
        in a generator around this one, which every token would cross)."""
        if settle_route:
            route = self.route_of(request, route)
        try:
            if not self.policy.enabled:
                started = False
                async for chunk in open_stream(request):
                    if chunk.text and not started:  # before the response head goes out with it
                        started = True
                        self._plain(request, route)
                    yield chunk
                return
            attempts = Attempts(self, self.route_of(request, route), request)
            sent: list[str] = []
            # With content sent and no resume, nothing else may answer: no attempt is chosen (it
            # would hold a breaker's probe, a place in a queue, for a call never made).
            while not (sent and not attempts.switches.resume):
                step = await attempts.next()
                if step is None:
                    break
                dangling = ""  # whitespace a chat prefill drops and the model writes again
                if sent:
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
        finally:
            if settle_route:
                settle(route)

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
