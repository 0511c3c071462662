"""The Ingress deployment's Ray Serve `user_config`: operator policy that changes without a
replica restart (`serve deploy` of a changed block reaches every replica's `reconfigure()`).

Each block is its own pydantic model, owned by the layer that applies it:
`routing:` (fallbacks, retries, deadlines, breakers; issue 15), `limits:` (admission
rules; issue 16) and `priority:` (classes in front of a saturated backend; issue 16). A
block that is absent keeps its defaults.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from routing.admission.priority import PriorityPolicy
from routing.admission.rules import LimitRule, check_unique
from routing.resilience.policy import RoutingPolicy


class IngressUserConfig(BaseModel):
    """The whole `user_config` of the Ingress deployment; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    routing: RoutingPolicy = RoutingPolicy()  # retries, fallbacks, deadlines, breakers
    limits: list[LimitRule] = []  # admission rules (routing/admission/rules.py)
    priority: PriorityPolicy = PriorityPolicy()  # classes at a saturated backend (priority.py)

    @field_validator("limits")
    @classmethod
    def _unique_limits(cls, rules: list[LimitRule]) -> list[LimitRule]:
        check_unique(rules)
        return rules

    @classmethod
    def parse(cls, raw: dict[str, Any] | None) -> IngressUserConfig:
        return cls.model_validate(raw or {})
