"""What one admitted request holds: a `Need` per quota of each rule it falls under (what it
took, from which lease) and the `Ticket` that gives it all back, once, when the request
ends however it ends."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import AdmissionRefusal
from observability import record as request_record
from routing.admission import headers
from routing.admission.leases import Lease, LeaseBook
from routing.admission.rules import CompiledRule, Subject
from routing.admission.slot import Slot

if TYPE_CHECKING:
    from core.types import ModelTarget
    from routing.admission.controller import Admission


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
    lease: Lease | None = None  # the lease it was spent from

    def worth_asking(self, book: LeaseBook) -> bool:
        """Short, though what the lease holds and what the store had left at its last grant
        cover it together: one more ask, for the difference, may get it."""
        lease = book.get(self.bucket)
        return (
            not self.taken
            and lease is not None
            and lease.remaining() >= self.least > lease.available
        )

    def state(self, book: LeaseBook, now: float) -> headers.QuotaState:
        lease = self.lease if self.lease is not None else book.get(self.bucket, now)
        remaining = lease.remaining() if lease is not None else None
        reset = lease.reset_s(now) if lease is not None else math.ceil(self.window_s)
        return headers.QuotaState(
            self.rule.rule.name, self.quota, self.limit, self.window_s, remaining, reset
        )


def needs_of(c: CompiledRule, s: Subject, inp: int, out: int) -> list[Need]:
    key = c.key_of(s)
    base = c.bucket_prefix + key + ":"
    needs = []
    for quota, limit, window_s in c.quotas:
        if quota == "t":
            # shrink: at least one output token beyond the input; refuse (and shadow): all of it
            least = inp + 1 if c.shrinks else inp + out
            needs.append(Need(c, quota, key, base + quota, limit, window_s, least, inp + out))
        else:
            needs.append(Need(c, quota, key, base + quota, limit, window_s, 1, 1))
    return needs


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
        tokens: bool | None = None,  # whether a token quota is among `needs` (if known)
    ) -> None:
        self._admission = admission
        self._needs = needs
        self.headers = fields or {}
        self.max_tokens = max_tokens
        if tokens is None:
            tokens = any(n.quota == "t" for n in needs)
        # A stream is cut here: a backend that streams past max_tokens must not overrun.
        self.output_cap = max_tokens if tokens else None
        self.input_tokens = input_tokens
        self.output_tokens = 0
        self._settled = False
        self._slot: Slot | None = None  # its place at a saturated backend (priority.py)

    # What a fallback to another model needs (controller.extend): who asks, how many input
    # tokens (counted on demand), and the backend the request is bound for. Class defaults,
    # set on an instance only where used: the hot path's ticket stays as small as it was.
    subject: Subject | None = None
    count: Callable[[], int] | None = None
    backend = ""

    def holding(self, slot: Slot | None, max_tokens: int | None) -> Ticket:
        """This ticket (a new one in place of the shared NO_LIMITS) holding `slot` too."""
        if slot is None:
            return self
        ticket = self if self is not NO_LIMITS else Ticket(None, max_tokens=max_tokens)
        ticket._slot = slot
        return ticket

    @property
    def slot(self) -> Slot | None:
        """Its place at a gated backend, which follows the request's fallbacks."""
        return self._slot

    @property
    def place(self) -> Ticket | None:
        """This ticket when a fallback must move it (a slot to move, rules that select
        models), else None: the routing engine then has nothing to do on a fallback."""
        admission = self._admission
        if self._slot is not None or (admission is not None and admission.by_model):
            return self
        return None

    async def move(self, target: ModelTarget, max_tokens: int | None) -> int | None:
        """Before an attempt on `target` (a fallback): the rules selecting its model that
        this ticket does not hold are taken, then the slot moves to its backend. Raises the
        refusal (AdmissionRefusal) of a rule or gate; returns the most the call may now ask
        for (a token rule of that model), or None."""
        cap = None
        admission = self._admission
        try:
            if admission is not None and admission.by_model and self.subject is not None:
                cap = await admission.extend(self, target, max_tokens)
            if target.backend != self.backend:
                self.backend = target.backend
                if self._slot is not None:
                    await self._slot.move(target)
        except AdmissionRefusal as exc:
            # The access log names the rule (or gate) that refused the request at a
            # fallback, as it does one that refused it at its first target.
            record = request_record.current()
            if record is not None:
                record.fields.setdefault("rate_limit_rule", exc.rule)
            raise
        return cap

    def rule_names(self) -> set[str]:
        return {n.rule.rule.name for n in self._needs}

    def add(self, needs: Sequence[Need], input_tokens: int, cap: int | None) -> None:
        """What a fallback's own rules took, settled with the rest."""
        self._needs = [*self._needs, *needs]
        self.input_tokens = input_tokens
        if cap is not None:
            self.output_cap = cap if self.output_cap is None else min(self.output_cap, cap)

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
