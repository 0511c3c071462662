"""Admission: which rules a request falls under, what it takes from each (a request, its
token reservation, a slot in flight), and what it gives back when it ends.

The hot path with budget in hand is local: a lease of each bucket is decremented in this
replica. The shared store is asked only when a lease runs short, in one call for every
bucket the request needs, with a bounded wait; a store that does not answer is decided per
rule (`on_store_failure`) and not asked again for `STORE_RETRY_S`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.errors import AdmissionUnavailable, RateLimitExceeded
from routing.admission import headers
from routing.admission.leases import LeaseBook, Maintainer, StoreClient, StoreUnavailable
from routing.admission.metrics import AdmissionMetrics
from routing.admission.priority import Priorities, Slot
from routing.admission.rules import CompiledRule, LimitRule, Subject, check_unique
from routing.admission.store import Ask, Grant, Return, lease_extra

STORE_WAIT_S = 1.0  # the bounded wait for the shared store
STORE_RETRY_S = 1.0  # after a failed call, how long requests are decided without asking
DEFAULT_OUTPUT_RESERVATION = 1024  # a request that names no max_tokens reserves this many


@dataclass(slots=True)
class Need:
    rule: CompiledRule
    quota: str  # r, t, c
    key: str
    bucket: str
    limit: int
    window_s: float
    least: int
    full: int
    taken: int = 0
    window: int = -1
    epoch: str = ""
    counted: bool = True  # False: granted by a store failure that fails open

    def state(self, book: LeaseBook) -> headers.QuotaState:
        lease = book.get(self.bucket)
        now = book.clock()
        remaining = lease.remaining() if lease is not None else None
        reset = lease.reset_s(now) if lease is not None else math.ceil(self.window_s)
        return headers.QuotaState(
            self.rule.rule.name, self.quota, self.limit, self.window_s, remaining, reset
        )


class Ticket:
    """One admitted request's hold on its rules. `max_tokens` is what the request may ask
    the model for (lowered by a `shrink` rule, or set to the reservation); `settle()` runs
    once, when the request ends however it ends, and charges the real usage."""

    def __init__(
        self,
        admission: Admission | None,
        needs: Sequence[Need] = (),
        fields: dict[str, str] | None = None,
        max_tokens: int | None = None,
        input_tokens: int = 0,
    ) -> None:
        self._admission = admission
        self._needs = needs
        self.headers = fields or {}
        self.max_tokens = max_tokens
        # A stream is cut here: a backend that streams past max_tokens must not overrun.
        self.output_cap = max_tokens if any(n.quota == "t" for n in needs) else None
        self.input_tokens = input_tokens
        self.output_tokens = 0
        self._settled = False
        self._slot: Slot | None = None  # its place at a saturated backend (priority.py)

    def holding(self, slot: Slot | None, max_tokens: int | None) -> Ticket:
        """This ticket (a new one in place of the shared NO_LIMITS) holding `slot` too."""
        if slot is None:
            return self
        ticket = self if self is not NO_LIMITS else Ticket(None, max_tokens=max_tokens)
        ticket._slot = slot
        return ticket

    async def refund(self) -> None:
        """Give back everything taken, as if never admitted (a request shed after it)."""
        self._settled = True
        if self._admission is not None:
            self._admission._give_back(self._needs)
            await self._admission.flush()

    @property
    def rules(self) -> list[str]:
        return sorted({n.rule.rule.name for n in self._needs})

    def observe(self, output_tokens: int) -> None:
        """Output seen so far (a stream's chunks), what a cut-off request is charged."""
        self.output_tokens = max(self.output_tokens, output_tokens)

    def settle(self, output_tokens: int | None = None) -> None:
        if self._settled:
            return
        self._settled = True
        if self._slot is not None:
            self._slot.release()
        if output_tokens is not None:
            self.output_tokens = output_tokens
        if self._admission is not None:
            self._admission.settle(self._needs, self.input_tokens + self.output_tokens)

    async def release(self) -> None:
        """Settle, then hand the store at once what an exact (small) bucket got back, so a
        freed slot is not held by this replica while another one is refused."""
        self.settle()
        if self._admission is not None:
            await self._admission.flush()

    async def __aenter__(self) -> Ticket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.release()


NO_LIMITS = Ticket(None)


class Admission:
    def __init__(
        self,
        store: StoreClient,
        metrics: AdmissionMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        store_wait_s: float = STORE_WAIT_S,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.book = LeaseBook(clock)
        self.maintainer = Maintainer(self.book, store)
        self.store_wait_s = store_wait_s
        self.priorities = Priorities(metrics)
        self._rules: tuple[CompiledRule, ...] = ()
        self._down_until = 0.0

    def configure(self, rules: Sequence[LimitRule]) -> None:
        check_unique(rules)
        self._rules = tuple(CompiledRule.of(rule) for rule in rules)

    @property
    def rules(self) -> tuple[LimitRule, ...]:
        return tuple(c.rule for c in self._rules)

    def matching(self, subject: Subject) -> list[CompiledRule]:
        return [c for c in self._rules if c.matches(subject)]

    async def admit(
        self,
        subject: Subject,
        input_tokens: Callable[[], int],
        max_tokens: int | None,
    ) -> Ticket:
        """A ticket, or RateLimitExceeded (429) naming the first enforced rule that refused,
        or AdmissionUnavailable (503) for a rule that fails closed without its store."""
        rules = self.matching(subject) if self._rules else ()
        if not rules:
            return NO_LIMITS
        self.maintainer.ensure_running()
        tokens = any(c.rule.tokens_per_minute for c in rules)
        inp = input_tokens() if tokens else 0
        out = max_tokens if max_tokens is not None else DEFAULT_OUTPUT_RESERVATION
        needs = [n for c in rules for n in _needs(c, subject, inp, out)]
        failed = await self._take(needs)
        refused = self._refusals(needs, failed)
        fields = headers.fields(rules, [n.state(self.book) for n in needs])
        if refused is not None:
            self._undo(needs)
            raise refused(fields)
        enforced_tokens = [n for n in needs if n.quota == "t" and n.rule.rule.mode == "enforce"]
        granted_out = out
        for n in enforced_tokens:
            granted_out = min(granted_out, n.taken - inp)
        for n in needs:
            if n.quota == "t" and n.taken > inp + granted_out and n.counted:
                self.book.put_back(n.bucket, n.window, n.epoch, n.taken - inp - granted_out)
                n.taken = inp + granted_out
            if n.quota == "t" and self.metrics is not None:
                self.metrics.tokens(n.rule.rule.name, reserved=n.taken)
        if self.metrics is not None:
            for c in rules:
                self.metrics.decision(c.rule.name, "admitted")
        kept = [n for n in needs if n.taken and n.counted]
        new_max = granted_out if enforced_tokens else max_tokens
        return Ticket(self, kept, fields, new_max, inp)

    async def queue_for(
        self, ticket: Ticket, backend: str, subject: Subject, max_tokens: int | None
    ) -> Ticket:
        """`ticket` holding a slot at `backend` if a priority gate guards it; shed (429), it
        gives back what it took, so a shed request costs its sender no budget."""
        gate = self.priorities.gate(backend)
        if gate is None:
            return ticket
        try:
            slot = await gate.enter(subject.feature, subject.instance or subject.user or "-")
        except BaseException as exc:
            if isinstance(exc, RateLimitExceeded):
                exc.headers = ticket.headers
            await ticket.refund()
            raise
        return ticket.holding(slot, max_tokens)

    async def _take(self, needs: list[Need]) -> set[int]:
        """Spend from local leases; ask the store once for whatever they lack. The indices of
        needs the store could not be asked for."""
        asks: list[tuple[int, Ask]] = []
        for i, n in enumerate(needs):
            have = self.book.available(n.bucket)
            if have >= n.full:
                self._spend(n)
                continue
            asks.append((i, Ask(n.bucket, n.limit, n.window_s, max(0, n.least - have),
                                n.full - have, lease_extra(n.limit))))  # fmt: skip
        if not asks:
            return set()
        grants = await self._ask([a for _, a in asks])
        if grants is None:
            return {i for i, _ in asks}
        for (i, _), grant in zip(asks, grants, strict=True):
            n = needs[i]
            lease = self.book.add(n.bucket, grant)
            if self.metrics is not None:
                self.metrics.remaining(n.rule.rule.name, n.quota, n.key, lease.remaining())
            self._spend(n)
            if not n.taken and lease.available:
                # Too little here for this request, maybe enough for another replica's.
                self.book.surrender(n.bucket)
        return set()

    def _spend(self, n: Need) -> None:
        n.taken = self.book.spend(n.bucket, n.least, n.full)
        lease = self.book.get(n.bucket)
        if lease is not None:
            n.window, n.epoch = lease.window, lease.epoch

    async def _ask(self, asks: list[Ask]) -> list[Grant] | None:
        if time.monotonic() < self._down_until:
            return None
        owed, self.book.pending = self.book.pending, []
        try:
            return await asyncio.wait_for(self.store.take(asks, owed), self.store_wait_s)
        except (TimeoutError, StoreUnavailable):
            self._down_until = time.monotonic() + STORE_RETRY_S
            return None

    def _refusals(
        self, needs: list[Need], failed: set[int]
    ) -> Callable[[dict[str, str]], Exception] | None:
        """The error to raise for this request, after counting every rule's decision; needs of
        a rule that does not refuse (shadow) give back what they took."""
        refusal: Callable[[dict[str, str]], Exception] | None = None
        by_rule: dict[str, list[tuple[int, Need]]] = {}
        for i, n in enumerate(needs):
            by_rule.setdefault(n.rule.rule.name, []).append((i, n))
        for name, items in by_rule.items():
            rule = items[0][1].rule.rule
            down = [n for i, n in items if i in failed]
            short = [n for i, n in items if i not in failed and n.taken == 0]
            if down and rule.on_store_failure == "open":
                for n in down:
                    n.taken, n.counted = n.full, False
                self._count(name, "store_failed_open")
                down = []
            if not down and not short:
                continue
            if rule.mode == "shadow":
                self._count(name, "shadow_refused")
                self._give_back([n for _, n in items])
                continue
            if refusal is not None:
                self._count(name, "refused")
                continue
            if down:
                self._count(name, "store_failed_closed")
                refusal = _unavailable(name)
            else:
                self._count(name, "refused")
                refusal = _exceeded(name, short[0], self.book)
        return refusal

    def _count(self, rule: str, decision: str) -> None:
        if self.metrics is not None:
            self.metrics.decision(rule, decision)

    def _give_back(self, needs: Sequence[Need]) -> None:
        for n in needs:
            if n.counted:
                self.book.put_back(n.bucket, n.window, n.epoch, n.taken)
            n.taken = 0

    def _undo(self, needs: Sequence[Need]) -> None:
        self._give_back(needs)

    def settle(self, needs: Sequence[Need], used_tokens: int) -> None:
        """A request ended: slots go back, token reservations are charged at `used_tokens`
        and the rest goes back (a request never reserves less than it may use)."""
        for n in needs:
            if n.quota == "c" and not lease_extra(n.limit):
                self.book.pending.append(Return(n.bucket, n.window, n.epoch, n.taken))
            elif n.quota == "c":
                self.book.put_back(n.bucket, n.window, n.epoch, n.taken)
            elif n.quota == "t":
                self.book.put_back(n.bucket, n.window, n.epoch, n.taken - used_tokens)
                if self.metrics is not None:
                    self.metrics.tokens(n.rule.rule.name, committed=min(n.taken, used_tokens))

    async def flush(self) -> None:
        if not self.book.pending or time.monotonic() < self._down_until:
            return
        owed, self.book.pending = self.book.pending, []
        try:
            await asyncio.wait_for(self.store.give_back(owed), self.store_wait_s)
        except (TimeoutError, StoreUnavailable):
            self._down_until = time.monotonic() + STORE_RETRY_S

    def close(self) -> None:
        self.maintainer.stop()
        self.priorities.close()


def _needs(c: CompiledRule, s: Subject, inp: int, out: int) -> list[Need]:
    rule, key = c.rule, c.key_of(s)
    base = f"{rule.name}:{rule.key}:{key}"
    needs = []
    if rule.requests_per_minute:
        needs.append(Need(c, "r", key, base + ":r", rule.requests_per_minute, rule.window_s, 1, 1))
    if rule.tokens_per_minute:
        # shrink: at least one output token beyond the input; refuse (and shadow): all of it
        least = (
            inp + 1 if rule.on_short_budget == "shrink" and rule.mode == "enforce" else inp + out
        )
        needs.append(Need(c, "t", key, base + ":t", rule.tokens_per_minute, rule.window_s,
                          least, inp + out))  # fmt: skip
    if rule.max_concurrent:
        needs.append(Need(c, "c", key, base + ":c", rule.max_concurrent, 0.0, 1, 1))
    return needs


def _exceeded(rule: str, n: Need, book: LeaseBook) -> Callable[[dict[str, str]], Exception]:
    lease = book.get(n.bucket)
    retry = lease.reset_s(book.clock()) if lease is not None and n.quota != "c" else 1
    what = {"r": "requests", "t": "tokens", "c": "concurrent requests"}[n.quota]

    def build(fields: dict[str, str]) -> Exception:
        exc = RateLimitExceeded(f"Rate limit '{rule}' exceeded ({what})", rule, retry)
        exc.headers = fields
        return exc

    return build


def _unavailable(rule: str) -> Callable[[dict[str, str]], Exception]:
    def build(fields: dict[str, str]) -> Exception:
        exc = AdmissionUnavailable(f"Rate limit '{rule}' cannot be checked right now", rule)
        exc.headers = fields
        return exc

    return build
