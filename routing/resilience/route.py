"""One request's route: the ordered targets it may use, how to build its call for another
target, and the record of what happened (`X-Gateway-Route`, the access log's
`gateway_route`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.types import ModelRequest, ModelTarget
from observability import record as request_record

HEADER = "X-Gateway-Route"

# Builds the call for a fallback target (the prompt is assembled per model family); it may
# return (request, what the flow needs to finish the answer, e.g. the assembled suggestion).
Rebuild = Callable[[ModelTarget], Awaitable[tuple[ModelRequest, Any]]]


class Place(Protocol):
    """A request's hold on admission (its ticket: a priority slot at the backend it calls,
    the limit rules it falls under). Before each fallback attempt, and before an attempt on
    another backend, the engine moves it: the slot held goes back, so that backend's queue
    moves on, the new backend's gate is passed, and the rules that select the new model
    take their share; a refusal raises AdmissionRefusal. `move` returns the most the call
    may ask for (a token rule of the new model), or None."""

    backend: str

    async def move(self, target: ModelTarget, max_tokens: int | None) -> int | None: ...


@dataclass(slots=True)
class RouteRecord:
    served: str = ""
    tried: list[str] = field(default_factory=list)  # "target:outcome" of each failed attempt
    fallbacks: int = 0
    breakers: list[str] = field(default_factory=list)  # "target:state" met on the way
    resumes: int = 0
    budget_exhausted: bool = False
    policy: str = "default"  # the routing policy's version that decided

    def header(self) -> str:
        parts = [f"served={self.served or '-'}"]
        if self.tried:
            parts.append("tried=" + ",".join(self.tried))
        if self.fallbacks:
            parts.append(f"fallback={self.fallbacks}")
        if self.breakers:
            parts.append("breaker=" + ",".join(self.breakers))
        if self.resumes:
            parts.append(f"resume={self.resumes}")
        if self.budget_exhausted:
            parts.append("retry_budget=exhausted")
        if self.policy != "default":
            parts.append(f"policy={self.policy}")
        return "; ".join(parts)


@dataclass(slots=True)
class Route:
    """Targets in order (keys name them in metrics and the header); the first is the one
    the router chose. `explicit`: the client named it (no cross-model fallback unless the
    operator listed some for it, already among `candidates`)."""

    feature: str
    candidates: list[tuple[str, ModelTarget]]
    explicit: bool = False
    rebuild: Rebuild | None = None
    record: RouteRecord = field(default_factory=RouteRecord)
    served_target: ModelTarget | None = None
    served_extra: Any = None  # what `rebuild` returned beside the request that served
    place: Place | None = None  # set by admission when a priority gate guards a target
    # The answer's size admission reserved (a `shrink` rule may have lowered it): a call
    # rebuilt for a fallback never asks for more.
    max_tokens: int | None = None

    @property
    def first(self) -> ModelTarget:
        return self.candidates[0][1]

    def starts_with(self, target: ModelTarget) -> bool:
        return self.candidates[0][1] is target or self.candidates[0][1] == target

    def key_of(self, target: ModelTarget) -> str:
        for key, candidate in self.candidates:
            if candidate is target:
                return key
        return key_of(target)


def key_of(target: ModelTarget) -> str:
    """A target's name in metrics and the header when the catalogue has none for it."""
    return target.identifier or target.name or target.backend


_current: ContextVar[Route | None] = ContextVar("aigw_route", default=None)


def begin(route: Route) -> Route:
    """Make `route` the current request's (the flows call the gateway with requests; the
    gateway finds the route of a request to its first target here)."""
    _current.set(route)
    return route


def current() -> Route | None:
    return _current.get()


def settle(route: Route | None = None) -> None:
    """Put the route's record where the access log and the response head find it."""
    route = route if route is not None else _current.get()
    if route is None:
        return
    rec = request_record.current()
    if rec is not None:
        rec.fields["gateway_route"] = route.record.header()
