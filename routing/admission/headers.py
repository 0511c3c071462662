"""IETF `RateLimit-Policy` and `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers):
one list member per quota of each rule that matched the request, admitted or not."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

QUOTA_SUFFIX = {"r": "", "t": "-tokens", "c": "-concurrent"}
QUOTA_UNIT = {"r": "", "t": ';qu="tokens"', "c": ';qu="concurrent-requests"'}


@dataclass(frozen=True, slots=True)
class QuotaState:
    rule: str
    quota: str  # r (requests), t (tokens), c (in flight)
    limit: int
    window_s: float
    remaining: int | None  # None: not known here (the store could not be asked)
    reset_s: int


def _name(state: QuotaState) -> str:
    return f'"{state.rule}{QUOTA_SUFFIX[state.quota]}"'


def policy(states: Iterable[QuotaState]) -> str:
    members = []
    for s in states:
        window = f";w={int(s.window_s)}" if s.quota != "c" else ""
        members.append(f"{_name(s)};q={s.limit}{window}{QUOTA_UNIT[s.quota]}")
    return ", ".join(members)


def current(states: Iterable[QuotaState]) -> str:
    return ", ".join(
        f"{_name(s)};r={max(0, s.remaining)};t={s.reset_s}"
        for s in states
        if s.remaining is not None and s.quota != "c"
    )


def rule_policy(rule: str, limits: Iterable[tuple[str, int, float]]) -> str:
    """One rule's members of `RateLimit-Policy` (fixed while the rule is: built once)."""
    states = [QuotaState(rule, quota, limit, window, None, 0) for quota, limit, window in limits]
    return policy(states)


class HasPolicy(Protocol):
    @property
    def policy(self) -> str: ...


def fields(rules: Sequence[HasPolicy], states: list[QuotaState]) -> dict[str, str]:
    out = {"RateLimit-Policy": ", ".join(r.policy for r in rules)} if rules else {}
    now = current(states)
    if now:
        out["RateLimit"] = now
    return out


def merge(into: dict[str, str], fields: dict[str, str]) -> None:
    """Add a fallback's rules to the request's RateLimit fields (lists: members appended)."""
    for name, value in fields.items():
        into[name] = f"{into[name]}, {value}" if into.get(name) else value
