"""Priority classes in front of a saturated backend (issue 16, item 5).

A backend deployment takes `max_ongoing_requests` per replica; past that, Serve queues calls
in the handle first come, first served, so a burst of long chats delays every code completion
behind it until autoscaling adds replicas. A `PriorityGate` per backend in each ingress
replica keeps this replica's share of the backend's capacity and, once it is all in use,
queues requests by class (the first class listed is served first) and, within a class, by
tenant in turn (one instance's burst cannot starve the others). A request that would wait
past its class's `max_wait_s`, or that finds the queue full of requests that outrank it, is
shed at once with a 429 and a `Retry-After` from the rate at which slots free up.

The gate never holds back what the backend could take: its capacity follows the backend's
running replicas, so the backend's own autoscaling (ongoing requests above its target) still
sees the load and adds replicas, and each new one widens the gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.errors import RateLimitExceeded
from core.types import ModelTarget
from routing.admission.slot import Slot

SCALE_EVERY_S = 2.0  # how often replica counts are read (off the request path)
RATE_HALF_LIFE_S = 2.0  # how fast the measured drain rate forgets
MAX_RETRY_AFTER_S = 60


class PriorityClass(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    # Features of this class; the last class also takes every feature no class names.
    features: list[str] = []
    # The longest a request of this class waits for a slot; past it a client is better off
    # with a 429 now than an answer after the feature's own deadline. 0: never queued.
    max_wait_s: float = Field(default=1.0, ge=0, le=300)
    # Slots handed to this class per slot handed to a class of weight 1 while both wait: a
    # lower class is served behind, never starved (strict order would leave chat nothing
    # while completions alone fill the backend).
    weight: float = Field(default=1.0, gt=0, le=1000)


class BackendCapacity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # As the backend deployment's `max_ongoing_requests` in serve_config.yaml: what one of its
    # replicas takes at once. The gate's share is this times the running backend replicas,
    # divided by the running ingress replicas.
    max_ongoing_requests: int = Field(ge=1)


DEFAULT_CLASSES = (
    PriorityClass(name="completions", features=["code_completions"], max_wait_s=1.0, weight=16),
    PriorityClass(name="generations", features=["code_generations"], max_wait_s=5.0, weight=4),
    PriorityClass(name="chat", max_wait_s=10.0),
)


class PriorityPolicy(BaseModel):
    """The `priority:` block of the Ingress `user_config`; no backends: no gate anywhere."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    classes: tuple[PriorityClass, ...] = DEFAULT_CLASSES  # served in this order
    backends: dict[str, BackendCapacity] = {}  # by backend name: local, anthropic, ...
    max_queue: int = Field(default=512, ge=0)  # waiting requests per backend and replica

    @model_validator(mode="after")
    def _classes_are_distinct(self) -> PriorityPolicy:
        if not self.classes:
            raise ValueError("priority.classes must name at least one class")
        names = [c.name for c in self.classes]
        features = [f for c in self.classes for f in c.features]
        if len(set(names)) != len(names) or len(set(features)) != len(features):
            raise ValueError("priority classes must have distinct names and features")
        return self


class GateMetrics(Protocol):
    def queue_depth(self, backend: str, cls: str, depth: int) -> None: ...
    def shed(self, backend: str, cls: str, reason: str) -> None: ...


class Shed(RateLimitExceeded):
    """429: the backend is saturated and this request's class would wait too long."""


@dataclass(slots=True, eq=False)
class _Waiter:
    future: asyncio.Future[None]
    tenant: str
    cls: int


@dataclass(slots=True)
class _Queue:
    tenants: OrderedDict[str, deque[_Waiter]] = field(default_factory=OrderedDict)
    size: int = 0
    step: float = 1.0  # 1 / weight: how far a slot handed out moves the class's pass
    passed: float = 0.0  # stride scheduling: the class with the lowest pass is served next


class PriorityGate:
    """One backend's share of capacity in this replica, with its class queues."""

    def __init__(
        self,
        backend: str,
        policy: PriorityPolicy,
        metrics: GateMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.metrics = metrics
        self.clock = clock
        self.in_flight = 0
        self.waiting = 0
        self.backend_replicas = 1
        self.ingress_replicas = 1
        self._freed = 0.0  # slots freed lately, each weighing less as it ages
        self._freed_at = clock()
        self.configure(policy)

    def configure(self, policy: PriorityPolicy) -> None:
        old = getattr(self, "_queues", None)
        self.policy = policy
        self.classes = policy.classes
        self._class_of = {f: i for i, c in enumerate(policy.classes) for f in c.features}
        self._queues = [_Queue(step=1 / c.weight) for c in policy.classes]
        self._virtual = 0.0  # the pass of the class served last
        self.max_ongoing = policy.backends[self.backend].max_ongoing_requests
        self.waiting = 0
        if old:  # waiters keep their place, in a class of the same rank (or the last)
            for rank, queue in enumerate(old):
                for dq in queue.tenants.values():
                    for w in dq:
                        w.cls = min(rank, len(self._queues) - 1)
                        self._enqueue(w)
        self._dispatch()

    @property
    def capacity(self) -> int:
        share = self.max_ongoing * self.backend_replicas / max(1, self.ingress_replicas)
        return max(1, math.ceil(share))

    def scale(self, backend_replicas: int, ingress_replicas: int) -> None:
        """Running replicas of the backend and of the ingress, as Serve last reported them."""
        self.backend_replicas = max(1, backend_replicas)
        self.ingress_replicas = max(1, ingress_replicas)
        self._dispatch()

    def class_of(self, feature: str) -> int:
        return self._class_of.get(feature, len(self.classes) - 1)

    async def enter(self, feature: str, tenant: str) -> Slot:
        """A slot now, a slot after waiting behind the classes above this one, or `Shed`."""
        if self.in_flight < self.capacity and not self.waiting:
            self.in_flight += 1
            return Slot(self)
        cls = self.class_of(feature)
        limit = self.classes[cls].max_wait_s
        if limit <= 0:
            raise self._shed(cls, "saturated")
        if self.waiting >= self.policy.max_queue and not self._displace_below(cls):
            raise self._shed(cls, "queue_full")
        waiter = _Waiter(asyncio.get_running_loop().create_future(), tenant, cls)
        self._enqueue(waiter)
        try:
            # asyncio.wait, not wait_for: a cancel that lands as the slot is handed over must
            # reach the handler below (which gives the slot back), not be swallowed.
            await asyncio.wait((waiter.future,), timeout=limit)
        except asyncio.CancelledError:  # the client went away while it waited
            if waiter.future.done() and not waiter.future.cancelled():
                if waiter.future.exception() is None:
                    self.release()  # a slot was handed over as it left
            else:
                self._remove(waiter)
                waiter.future.cancel()
            raise
        if not waiter.future.done():
            self._remove(waiter)
            waiter.future.cancel()
            raise self._shed(waiter.cls, "timeout")
        waiter.future.result()  # raises Shed if a request of a higher class displaced it
        return Slot(self)

    def release(self) -> None:
        now = self.clock()
        self._freed = self._freed * 0.5 ** ((now - self._freed_at) / RATE_HALF_LIFE_S) + 1
        self._freed_at = now
        # Past capacity (the backend lost replicas, or a reload narrowed the share), a freed
        # slot is not passed on.
        waiter = self._next() if self.in_flight <= self.capacity else None
        if waiter is None:
            self.in_flight -= 1
        else:
            waiter.future.set_result(None)  # the slot passes on: in_flight is unchanged

    def depth(self) -> dict[str, int]:
        return {c.name: q.size for c, q in zip(self.classes, self._queues, strict=True)}

    def retry_after(self, cls: int) -> int:
        """Seconds until the requests ahead of this class have drained at the recent rate."""
        ahead = sum(q.size for q in self._queues[: cls + 1]) + 1
        # A steady stream of one release every dt keeps `_freed` near H / (dt ln 2).
        aged = self._freed * 0.5 ** ((self.clock() - self._freed_at) / RATE_HALF_LIFE_S)
        rate = aged * math.log(2) / RATE_HALF_LIFE_S
        if rate <= 0:
            return 1
        return min(MAX_RETRY_AFTER_S, max(1, math.ceil(ahead / rate)))

    def _shed(self, cls: int, reason: str) -> Shed:
        name = self.classes[cls].name
        if self.metrics is not None:
            self.metrics.shed(self.backend, name, reason)
        return Shed(
            f"Backend '{self.backend}' is saturated: request of class '{name}' shed",
            f"priority:{name}",
            self.retry_after(cls),
        )

    def _dispatch(self) -> None:
        """Hand out the slots capacity allows (after a scale-up or a reload)."""
        while self.in_flight < self.capacity:
            waiter = self._next()
            if waiter is None:
                return
            self.in_flight += 1
            waiter.future.set_result(None)

    def _enqueue(self, w: _Waiter) -> None:
        queue = self._queues[w.cls]
        if not queue.size:  # a class that was idle banks no credit, and waits its stride
            queue.passed = max(queue.passed, self._virtual + queue.step)
        queue.tenants.setdefault(w.tenant, deque()).append(w)
        queue.size += 1
        self.waiting += 1
        self._report(w.cls)

    def _next(self) -> _Waiter | None:
        """The next waiter: of the waiting class with the lowest pass (the higher class on a
        tie), its tenants taking turns."""
        while self.waiting:
            cls, queue = min(
                ((i, q) for i, q in enumerate(self._queues) if q.size),
                key=lambda iq: (iq[1].passed, iq[0]),
            )
            tenant, dq = next(iter(queue.tenants.items()))
            w = dq.popleft()
            if dq:
                queue.tenants.move_to_end(tenant)
            else:
                del queue.tenants[tenant]
            queue.size -= 1
            self.waiting -= 1
            self._report(cls)
            if not w.future.done():
                self._virtual = queue.passed
                queue.passed += queue.step
                return w
        return None

    def _remove(self, w: _Waiter) -> None:
        queue = self._queues[w.cls]
        dq = queue.tenants.get(w.tenant)
        if dq is None or w not in dq:
            return
        dq.remove(w)
        if not dq:
            del queue.tenants[w.tenant]
        queue.size -= 1
        self.waiting -= 1
        self._report(w.cls)

    def _displace_below(self, cls: int) -> bool:
        """Make room by shedding the newest waiter of the lowest class below `cls`, from the
        tenant with the most waiting (the one that filled the queue)."""
        for lower in range(len(self._queues) - 1, cls, -1):
            queue = self._queues[lower]
            if not queue.tenants:
                continue
            dq = max(queue.tenants.values(), key=len)
            w = dq[-1]
            self._remove(w)
            w.future.set_exception(self._shed(lower, "displaced"))
            return True
        return False

    def _report(self, cls: int) -> None:
        if self.metrics is not None:
            self.metrics.queue_depth(self.backend, self.classes[cls].name, self._queues[cls].size)


# Running replicas per backend, and of the ingress (serve_app reads them from Serve).
ReplicaCounts = Callable[[], Awaitable[tuple[dict[str, int], int]]]


class Priorities:
    """Every gated backend of this replica; a backend no policy names is never gated."""

    def __init__(self, metrics: GateMetrics | None = None) -> None:
        self.metrics = metrics
        self.policy = PriorityPolicy()
        self._gates: dict[str, PriorityGate] = {}
        self.gated = False  # whether any backend has a gate (the hot path's one check)
        self._counts: ReplicaCounts | None = None
        self._task: asyncio.Task[None] | None = None

    def watch(self, counts: ReplicaCounts) -> None:
        """Follow the replica counts `counts` gives, from a task started on first use."""
        self._counts = counts

    def ensure_watching(self) -> None:
        if self._counts is not None and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._follow(self._counts))

    async def _follow(self, counts: ReplicaCounts) -> None:
        while self._gates:
            # Serve not answering leaves the last counts in place; nothing may stop the loop.
            with contextlib.suppress(Exception):
                backends, ingress = await counts()
                self.scale(backends, ingress)
            await asyncio.sleep(SCALE_EVERY_S)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def configure(self, policy: PriorityPolicy) -> None:
        gates: dict[str, PriorityGate] = {}
        for backend in policy.backends:
            gate = self._gates.get(backend)
            if gate is None:
                gate = PriorityGate(backend, policy, self.metrics)
            else:
                gate.configure(policy)
            gates[backend] = gate
        for backend, gate in self._gates.items():
            if backend not in gates:  # no longer gated: whoever waits goes through
                gate.max_ongoing, gate.backend_replicas = 1 << 30, 1
                gate._dispatch()
        self._gates = gates
        self.gated = bool(gates)
        self.policy = policy

    def guards(self, targets: Sequence[tuple[str, ModelTarget]]) -> bool:
        """Whether a gate guards one of a route's targets (a fallback's included)."""
        return self.gated and any(t.backend in self._gates for _, t in targets)

    def gate(self, backend: str) -> PriorityGate | None:
        if not self._gates:
            return None
        gate = self._gates.get(backend)
        if gate is not None:
            self.ensure_watching()
        return gate

    def scale(self, counts: Mapping[str, int], ingress_replicas: int) -> None:
        """Running replicas per backend (a backend inside the ingress counts as one)."""
        for backend, gate in self._gates.items():
            gate.scale(counts.get(backend, 1), ingress_replicas)
