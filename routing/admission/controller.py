"""Admission: which rules a request falls under, what it takes from each (a request, its
token reservation, a slot in flight), and what it gives back when it ends.

The hot path with budget in hand is local: a lease of each bucket is decremented in this
replica. The shared store is asked only when a lease runs short, in one call for every
bucket the request needs, with a bounded wait; a store that does not answer is decided per
rule (`on_store_failure`) and not asked again for `STORE_RETRY_S`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Callable, Sequence

from core.errors import AdmissionUnavailable, RateLimitExceeded
from core.types import ModelTarget
from routing.admission import headers
from routing.admission.leases import LeaseBook, Maintainer, StoreClient, StoreUnavailable
from routing.admission.metrics import AdmissionMetrics
from routing.admission.priority import Priorities
from routing.admission.rules import CompiledRule, LimitRule, Subject, check_unique
from routing.admission.slot import Slot
from routing.admission.store import Ask, Grant, Return, lease_extra
from routing.admission.ticket import NO_LIMITS, Need, Ticket, needs_of

__all__ = ["NO_LIMITS", "Admission", "Need", "Ticket"]

STORE_WAIT_S = 1.0  # the bounded wait for the shared store
STORE_RETRY_S = 1.0  # after a failed call, how long requests are decided without asking
DEFAULT_OUTPUT_RESERVATION = 1024  # a request that names no max_tokens reserves this many
MAX_SELECTIONS = 4096  # (feature, model, realm) combinations whose matching rules are kept


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
        self._selections: dict[tuple[object, ...], tuple[list[CompiledRule], str, bool] | None] = {}
        self._down_until = 0.0
        self._refills: set[asyncio.Future[None]] = set()  # store calls in flight, until landed
        self.by_model = False  # a rule selects models: a fallback may fall under another

    def configure(self, rules: Sequence[LimitRule]) -> None:
        check_unique(rules)
        self._rules = tuple(CompiledRule.of(rule) for rule in rules)
        self.by_model = any(c.models is not None for c in self._rules)
        self._selections.clear()

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
        selected = self._selected(subject) if self._rules else None
        if selected is None:
            if not self.by_model:
                return NO_LIMITS
            # No rule for this model; one may select a fallback's (extend, at the fallback).
            ticket = Ticket(self, [], None, max_tokens, 0, False)
            ticket.subject, ticket.count = subject, input_tokens
            return ticket
        rules, policy, tokens = selected
        self.maintainer.ensure_running()
        inp = input_tokens() if tokens else 0
        out = max_tokens if max_tokens is not None else DEFAULT_OUTPUT_RESERVATION
        needs = [n for c in rules for n in needs_of(c, subject, inp, out)]
        failed = await self._take(needs)
        now = self.book.clock()
        if failed or not all(n.taken for n in needs):
            refused = self._refusals(needs, failed)
            if refused is not None:
                fields = headers.fields(rules, [n.state(self.book, now) for n in needs])
                self._undo(needs)
                raise refused(fields)
        fields = _admitted_fields(policy, needs, now)
        granted_out, enforced_tokens = out, False
        for n in needs:
            if n.quota == "t" and n.rule.rule.mode == "enforce":
                granted_out, enforced_tokens = min(granted_out, n.taken - inp), True
        kept = []
        for n in needs:
            if n.quota == "t":
                if n.taken > inp + granted_out and n.counted:
                    extra = n.taken - inp - granted_out
                    self.book.put_back(n.bucket, n.window, n.epoch, extra, now)
                    n.taken = inp + granted_out
                if self.metrics is not None:
                    self.metrics.tokens(n.rule.rule.name, reserved=n.taken)
            if n.taken and n.counted:
                kept.append(n)
        if self.metrics is not None:
            for c in rules:
                self.metrics.decision(c.rule.name, "admitted")
        new_max = granted_out if enforced_tokens else max_tokens
        ticket = Ticket(self, kept, fields, new_max, inp, tokens)
        if self.by_model:
            ticket.subject, ticket.count = subject, input_tokens
        return ticket

    async def extend(
        self, ticket: Ticket, target: ModelTarget, max_tokens: int | None
    ) -> int | None:
        """The rules that select `target`'s model and that `ticket` does not hold (its
        request, bound for a fallback, is now under them too) take their share, all of the
        call's reservation or a refusal (a fallback's call has its size: no shrinking);
        rules of the model left behind stay charged (the request went there). The cap a
        token rule puts on the call, or None."""
        assert ticket.subject is not None
        subject = dataclasses.replace(ticket.subject, model=(target.name, target.identifier))
        held = ticket.rule_names()
        selected = self._selected(ticket.subject)  # decided at admission (shadow ones too)
        if selected is not None:
            held.update(c.rule.name for c in selected[0])
        rules = [c for c in self._rules if c.rule.name not in held and c.matches(subject)]
        if not rules:
            return None
        tokens = any(c.rule.tokens_per_minute for c in rules)
        inp = ticket.input_tokens
        if tokens and not inp and ticket.count is not None:
            inp = ticket.count()
        out = max_tokens if max_tokens is not None else DEFAULT_OUTPUT_RESERVATION
        needs = [n for c in rules for n in needs_of(c, subject, inp, out)]
        for n in needs:
            n.least = n.full
        failed = await self._take(needs)
        now = self.book.clock()
        if failed or not all(n.taken for n in needs):
            refused = self._refusals(needs, failed)
            if refused is not None:
                fields = headers.fields(rules, [n.state(self.book, now) for n in needs])
                headers.merge(ticket.headers, fields)
                self._undo(needs)
                raise refused(fields)
        # The answer's head, if not sent yet (a whole answer), names these rules too: the
        # dict is the one the response's middleware reads when the head goes out.
        headers.merge(
            ticket.headers, _admitted_fields(", ".join(c.policy for c in rules), needs, now)
        )
        enforced_tokens = False
        for n in needs:
            if n.quota == "t":
                enforced_tokens |= n.rule.rule.mode == "enforce"
                if self.metrics is not None:
                    self.metrics.tokens(n.rule.rule.name, reserved=n.taken)
        if self.metrics is not None:
            for c in rules:
                self.metrics.decision(c.rule.name, "admitted")
        cap = out if enforced_tokens else None
        ticket.add([n for n in needs if n.taken and n.counted], inp, cap)
        return cap

    def _selected(self, s: Subject) -> tuple[list[CompiledRule], str, bool] | None:
        """The rules `s` falls under, their RateLimit-Policy and whether any counts tokens:
        the same for every request of one feature, model and realm, so worked out once."""
        key = (s.feature, s.unit_primitive, s.model, s.realm)
        try:
            return self._selections[key]
        except KeyError:
            pass
        rules = [c for c in self._rules if c.matches(s)]
        policy = ", ".join(c.policy for c in rules)
        selected = (rules, policy, any(c.rule.tokens_per_minute for c in rules)) if rules else None
        if len(self._selections) >= MAX_SELECTIONS:
            self._selections.clear()  # bounded: model names come from requests
        self._selections[key] = selected
        return selected

    async def queue_for(
        self,
        ticket: Ticket,
        backend: str,
        subject: Subject,
        max_tokens: int | None,
        route: Sequence[tuple[str, ModelTarget]] = (),
    ) -> Ticket:
        """`ticket` holding a slot at `backend` if a priority gate guards it; shed (429), it
        gives back what it took, so a shed request costs its sender no budget. With `route`
        (the request's targets, its fallbacks after the first) guarded somewhere, the ticket
        holds a slot that the routing engine moves from backend to backend with the request
        (`ticket.slot`), even when the first backend has no gate."""
        priorities = self.priorities
        gate = priorities.gate(backend)
        if gate is None and not priorities.guards(route):
            if ticket is not NO_LIMITS:
                ticket.backend = backend  # where a fallback's move starts from
            return ticket
        tenant = subject.instance or subject.user or "-"
        if gate is None:
            slot = Slot(None, backend)
        else:
            try:
                slot = await gate.enter(subject.feature, tenant)
            except BaseException as exc:
                if isinstance(exc, RateLimitExceeded):
                    exc.headers = ticket.headers
                await ticket.refund()
                raise
        ticket = ticket.holding(slot.follows(priorities, subject.feature, tenant), max_tokens)
        ticket.backend = backend
        return ticket

    async def _take(self, needs: list[Need]) -> set[int]:
        """Spend from local leases; ask the store for whatever they lack (a second time at
        most, see below). The indices of needs the store could not be asked for."""
        asking: list[int] = []
        now = self.book.clock()
        for i, n in enumerate(needs):
            lease = self.book.get(n.bucket, now)
            if lease is not None and lease.available >= n.full:  # the hot path
                lease.available -= n.full
                lease.touched = now
                n.taken, n.window, n.epoch, n.lease = n.full, lease.window, lease.epoch, lease
                continue
            asking.append(i)
        for again in (False, True):
            if not asking:
                break
            if not await self._refill([needs[i] for i in asking]):
                return set(asking)
            short = [needs[i] for i in asking if not needs[i].taken]
            if short and self._refills:
                # Requests of this replica asked the store at once (a burst with no lease
                # yet): the surplus of another one's grant, still on its way back, may cover
                # this one. Refusing before it lands would leave it idle in the book.
                await asyncio.wait(set(self._refills), timeout=self.store_wait_s)
                for n in short:
                    self._spend(n)
            # What is here and what the store had left may cover it together: ask once more
            # for the difference.
            asking = [] if again else [i for i in asking if needs[i].worth_asking(self.book)]
        for n in needs:
            if not n.taken and self.book.available(n.bucket):
                # Too little here for this request, maybe enough for another replica's.
                self.book.surrender(n.bucket)
        return set()

    async def _refill(self, needs: list[Need]) -> bool:
        """One store call for what `needs` lack beyond their leases, its grants added to the
        book and spent; False when the store could not be asked."""
        asks = []
        for n in needs:
            have = self.book.available(n.bucket)
            asks.append(Ask(n.bucket, n.limit, n.window_s, max(0, n.least - have),
                            n.full - have, lease_extra(n.limit)))  # fmt: skip
        landed = asyncio.get_running_loop().create_future()
        self._refills.add(landed)
        try:
            grants = await self._ask(asks)
            if grants is None:
                return False
            for n, grant in zip(needs, grants, strict=True):
                lease = self.book.add(n.bucket, grant)
                if self.metrics is not None:
                    self.metrics.remaining(n.rule.rule.name, n.quota, n.key, lease.remaining())
        finally:
            self._refills.discard(landed)
            landed.set_result(None)
        for n in needs:
            self._spend(n)
        return True

    def _spend(self, n: Need) -> None:
        n.taken = self.book.spend(n.bucket, n.least, n.full)
        lease = self.book.get(n.bucket)
        if lease is not None:
            n.window, n.epoch, n.lease = lease.window, lease.epoch, lease

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
        now = self.book.clock()
        for n in needs:
            if n.quota == "c" and not lease_extra(n.limit):
                self.book.pending.append(Return(n.bucket, n.window, n.epoch, n.taken))
            elif n.quota == "c":
                self.book.put_back(n.bucket, n.window, n.epoch, n.taken, now)
            elif n.quota == "t":
                self.book.put_back(n.bucket, n.window, n.epoch, n.taken - used_tokens, now)
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


def _admitted_fields(policy: str, needs: Sequence[Need], now: float) -> dict[str, str]:
    """The RateLimit fields of an admitted request: its rules' policy, and what is left."""
    fields = {"RateLimit-Policy": policy}
    current = _current(needs, now)
    if current:
        fields["RateLimit"] = current
    return fields


def _current(needs: Sequence[Need], now: float) -> str:
    """The `RateLimit` field of an admitted request (headers.current, without building a
    QuotaState per quota: this runs for every request)."""
    parts = []
    for n in needs:
        lease = n.lease
        if lease is None or n.quota == "c":
            continue
        left = lease.store_remaining + lease.available
        reset = 0 if lease.ends_at == math.inf else max(0, math.ceil(lease.ends_at - now))
        parts.append(f"{n.rule.names[n.quota]};r={max(0, left)};t={reset}")
    return ", ".join(parts)


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
