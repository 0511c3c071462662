"""Admission rules as data: the `limits:` list of the Ingress deployment's `user_config`.

A rule selects requests (`match`), keys them by who sends them (`key`) and bounds them per
key: requests and tokens per window, requests in flight. `mode: shadow` trials a rule on live
traffic without refusing anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Names = str | list[str]


def _names(value: Names | None) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset([value] if isinstance(value, str) else value)


class RuleMatch(BaseModel):
    """Which requests a rule counts; an absent field matches every request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feature: Names | None = None  # code_completions, code_generations, duo_chat, ...
    unit_primitive: Names | None = None  # complete_code, generate_code, duo_chat, ...
    model: Names | None = None  # the model's name or its provider identifier
    realm: Names | None = None  # saas, self-managed


class LimitRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    match: RuleMatch = RuleMatch()
    # user: X-Gitlab-Global-User-Id, instance: X-Gitlab-Instance-Id (as auth verified them);
    # global: one budget for everybody the rule matches.
    key: Literal["user", "instance", "global"] = "user"
    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)
    max_concurrent: int | None = Field(default=None, ge=1)
    window_s: float = Field(default=60.0, gt=0, le=86400)  # the "minute" of the *_per_minute
    mode: Literal["enforce", "shadow"] = "enforce"
    on_short_budget: Literal["refuse", "shrink"] = "refuse"
    on_store_failure: Literal["open", "closed"] = "open"

    @model_validator(mode="after")
    def _limits_something(self) -> LimitRule:
        if not (self.requests_per_minute or self.tokens_per_minute or self.max_concurrent):
            raise ValueError(
                f"rule {self.name!r} sets none of requests_per_minute, tokens_per_minute, "
                "max_concurrent"
            )
        return self


def check_unique(rules: Sequence[LimitRule]) -> None:
    """Rule names label metrics and headers: two rules with one name would share them."""
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise ValueError(f"two limit rules are named {rule.name!r}")
        seen.add(rule.name)


@dataclass(frozen=True, slots=True)
class Subject:
    """What a rule may select and key on, taken from verified claims and the contract's
    headers only (never from a request body)."""

    feature: str
    unit_primitive: str
    model: tuple[str, ...]  # the model's name and its provider identifier
    realm: str
    user: str
    instance: str


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: LimitRule
    features: frozenset[str] | None
    primitives: frozenset[str] | None
    models: frozenset[str] | None
    realms: frozenset[str] | None
    policy: str  # its RateLimit-Policy members
    names: dict[str, str]  # quota -> its quoted name in RateLimit / RateLimit-Policy
    # (quota, limit, window_s; 0 for slots), worked out once rather than on every request
    quotas: tuple[tuple[str, int, float], ...]
    bucket_prefix: str  # the buckets of key K are named prefix + K + ":" + quota
    shrinks: bool  # an enforced rule with on_short_budget: shrink

    @classmethod
    def of(cls, rule: LimitRule) -> CompiledRule:
        from routing.admission.headers import QUOTA_SUFFIX, rule_policy

        m = rule.match
        quotas = [
            (q, limit, rule.window_s)
            for q, limit in (
                ("r", rule.requests_per_minute),
                ("t", rule.tokens_per_minute),
                ("c", rule.max_concurrent),
            )
            if limit
        ]
        return cls(rule, _names(m.feature), _names(m.unit_primitive), _names(m.model),
                   _names(m.realm), rule_policy(rule.name, quotas),
                   {q: f'"{rule.name}{QUOTA_SUFFIX[q]}"' for q, _, _ in quotas},
                   tuple((q, limit, window if q != "c" else 0.0) for q, limit, window in quotas),
                   f"{rule.name}:{rule.key}:",
                   rule.on_short_budget == "shrink" and rule.mode == "enforce")  # fmt: skip

    def matches(self, s: Subject) -> bool:
        return (
            (self.features is None or s.feature in self.features)
            and (self.primitives is None or s.unit_primitive in self.primitives)
            and (self.models is None or not self.models.isdisjoint(s.model))
            and (self.realms is None or s.realm in self.realms)
        )

    def key_of(self, s: Subject) -> str:
        """The budget this request draws on; an empty user or instance id is its own key
        (`-`), so callers that send none share one budget rather than escape the rule."""
        if self.rule.key == "global":
            return "*"
        value = s.user if self.rule.key == "user" else s.instance
        return value or "-"
