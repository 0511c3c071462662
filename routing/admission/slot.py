"""A request's slot at a gated backend (priority.py), and how it follows the request's
attempts (issue 15's fallbacks) from one backend to another."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.types import ModelTarget
    from routing.admission.priority import Priorities, PriorityGate


class Slot:
    """A request's place at the backend it calls, given back once when the request ends.

    Before an attempt on another backend (a fallback) the routing engine moves it there:
    the slot held goes back first, so the backend left behind serves its queue at once, and
    the new backend's gate is passed as any request of the same class and tenant would pass
    it (queued, or shed with a 429)."""

    __slots__ = ("_gate", "_gates", "backend", "feature", "tenant")

    def __init__(self, gate: PriorityGate | None, backend: str = "") -> None:
        self._gate = gate
        self.backend = gate.backend if gate is not None else backend
        self._gates: Priorities | None = None  # set by `follows`: where a move finds gates
        self.feature = self.tenant = ""

    def follows(self, gates: Priorities, feature: str, tenant: str) -> Slot:
        self._gates, self.feature, self.tenant = gates, feature, tenant
        return self

    def release(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate.release()

    async def move(self, target: ModelTarget) -> None:
        """Hold a slot at `target`'s backend instead (none when no gate guards it); raises
        `Shed` (a RateLimitExceeded) when that gate sheds the request."""
        self.release()
        self.backend = target.backend
        gate = self._gates.gate(self.backend) if self._gates is not None else None
        if gate is not None:
            entered = await gate.enter(self.feature, self.tenant)
            self._gate, entered._gate = entered._gate, None
