"""The routing policy as data: the `routing:` block of the Ingress deployment's `user_config`
(serve_app/user_config.py), hot-reloaded through `reconfigure()`. Absent: these defaults."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetryPolicy(_Strict):
    # Attempts on one target in total (the first one included) before the next target.
    attempts_per_target: int = Field(default=2, ge=1, le=10)
    backoff_base_s: float = Field(default=0.05, ge=0)
    backoff_max_s: float = Field(default=1.0, ge=0)
    # A Retry-After above this is not waited for: the request falls back, or the client gets
    # the 429 and its Retry-After.
    retry_after_cap_s: float = Field(default=2.0, ge=0)
    # Retries may be at most this share of first attempts per target over the window, so a
    # brown-out never becomes a retry storm; `budget_floor` retries per window are always
    # allowed, so a quiet target still gets its one retry.
    budget_ratio: float = Field(default=0.2, ge=0, le=10)
    budget_window_s: float = Field(default=10.0, gt=0)
    budget_floor: int = Field(default=3, ge=0)


class Deadlines(_Strict):
    """Per-attempt connect, first-byte and inter-chunk stall deadlines, and the request's
    total one (all attempts, backoff included). None: the layer below's value."""

    connect_s: float | None = Field(default=None, gt=0)
    first_byte_s: float | None = Field(default=None, gt=0)
    stall_s: float | None = Field(default=None, gt=0)
    total_s: float | None = Field(default=None, gt=0)

    def over(self, base: Deadlines) -> Deadlines:
        """These values, each unset one taken from `base`."""
        update = {k: v for k, v in base.model_dump().items() if getattr(self, k) is None}
        return self.model_copy(update=update) if update else self


# Editors abandon a completion within a few seconds; a chat answer may take minutes.
DEFAULT_DEADLINES = Deadlines(connect_s=3.0, first_byte_s=20.0, stall_s=15.0, total_s=120.0)
FEATURE_DEADLINES = {
    "code_completions": Deadlines(connect_s=1.0, first_byte_s=4.0, stall_s=3.0, total_s=10.0),
    "code_generations": Deadlines(connect_s=2.0, first_byte_s=15.0, stall_s=10.0, total_s=60.0),
}


class BreakerPolicy(_Strict):
    # Opens after this many failures in a row, or an error rate over `error_rate` in the
    # window once it saw `min_requests` calls there.
    consecutive_failures: int = Field(default=5, ge=1)
    error_rate: float = Field(default=0.5, gt=0, le=1)
    window_s: float = Field(default=10.0, gt=0)
    min_requests: int = Field(default=10, ge=1)
    cooldown_s: float = Field(default=5.0, gt=0)  # or the upstream's Retry-After if longer
    max_cooldown_s: float = Field(default=60.0, gt=0)
    # How long the one half-open probe may run unanswered before another may go: the graph's
    # grant to a replica, and a replica's own single flight. Longer than a target's usual
    # first byte, or probes overlap; short enough that a probe lost with its replica (or a
    # hung call) does not keep the target shut for long.
    probe_grant_s: float = Field(default=2.0, gt=0, le=300)


class FeatureSwitches(_Strict):
    fallback: bool = True
    retry: bool = True
    resume: bool = True
    deadlines: Deadlines = Deadlines()


class RoutingPolicy(_Strict):
    """What an operator tunes about how a chosen model is called."""

    version: str = "default"  # carried by the metrics: which policy a replica runs
    enabled: bool = True  # off: one attempt on the chosen model, as before issue 15
    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerPolicy = BreakerPolicy()
    deadlines: Deadlines = Deadlines()  # over DEFAULT_DEADLINES
    features: dict[str, FeatureSwitches] = Field(default_factory=dict)
    models: dict[str, Deadlines] = Field(default_factory=dict)  # per model identifier
    # Fallbacks of a model a client names explicitly (none unless written here: an explicit
    # choice is never swapped for another provider behind the operator's back).
    model_fallbacks: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    shared_breakers: bool = True  # share breaker states across replicas through Ray

    @model_validator(mode="after")
    def _backoff_order(self) -> RoutingPolicy:
        if self.retry.backoff_max_s < self.retry.backoff_base_s:
            raise ValueError("retry.backoff_max_s must be at least retry.backoff_base_s")
        return self

    def switches(self, feature: str) -> FeatureSwitches:
        return self.features.get(feature) or _NO_SWITCHES

    def deadlines_for(self, feature: str, model: str) -> Deadlines:
        """Most specific first: the model's, the feature's (policy, then built-in), the
        policy's defaults (the engine caches the answer: this runs on every attempt)."""
        merged = self.switches(feature).deadlines
        builtin = FEATURE_DEADLINES.get(feature)
        if builtin is not None:
            merged = merged.over(builtin)
        merged = merged.over(self.deadlines).over(DEFAULT_DEADLINES)
        model_deadlines = self.models.get(model)
        return model_deadlines.over(merged) if model_deadlines is not None else merged


_NO_SWITCHES = FeatureSwitches()
