"""The routing policy's plain pieces: policy validation, backoff, retry budget, breakers and
the shared hub (no Ray, no network)."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from core.errors import ModelError, ModelRateLimited, ModelTimeout, UnprocessableError
from routing.resilience.breaker import CLOSED, DENY, HALF_OPEN, OPEN, PASS, PROBE, Breakers
from routing.resilience.policy import BreakerPolicy, RetryPolicy, RoutingPolicy
from routing.resilience.retry import RetryBudget, backoff_s, is_failover, retry_after_s
from routing.resilience.shared import Hub, Report
from serve_app.user_config import IngressUserConfig


def test_routing_block_defaults_and_clear_errors() -> None:
    assert IngressUserConfig.parse(None).routing == RoutingPolicy()
    parsed = IngressUserConfig.parse(
        {"routing": {"version": "v7", "retry": {"attempts_per_target": 3}}}
    )
    assert parsed.routing.version == "v7" and parsed.routing.retry.attempts_per_target == 3
    with pytest.raises(ValidationError) as bad:
        IngressUserConfig.parse({"routing": {"retry": {"attempts_per_target": 0}}})
    assert "routing.retry.attempts_per_target" in str(bad.value).replace("\n", ".")
    with pytest.raises(ValidationError, match="retires"):
        IngressUserConfig.parse({"routing": {"retires": {}}})


def test_deadlines_most_specific_first() -> None:
    policy = RoutingPolicy.model_validate(
        {
            "features": {"code_completions": {"deadlines": {"first_byte_s": 1.5}}},
            "models": {"codestral_2508_vertex": {"total_s": 4.0}},
        }
    )
    completions = policy.deadlines_for("code_completions", "codestral_2508_vertex")
    assert (completions.first_byte_s, completions.total_s, completions.stall_s) == (1.5, 4.0, 3.0)
    chat = policy.deadlines_for("duo_chat", "claude")
    assert chat.total_s == 120.0 and chat.first_byte_s == 20.0


def test_failover_classification() -> None:
    assert is_failover(ModelError("x", 503)) and is_failover(ModelError("x", 529))
    assert is_failover(ModelRateLimited("x")) and is_failover(ModelTimeout("x"))
    assert is_failover(ModelError("connection reset"))
    assert not is_failover(ModelError("bad", 400)) and not is_failover(UnprocessableError("x"))
    assert retry_after_s(ModelRateLimited("x", "3"), 0.0) == 3.0
    assert retry_after_s(ModelRateLimited("x"), 0.0) is None


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    policy = RetryPolicy(backoff_base_s=0.1, backoff_max_s=0.5)
    rng = random.Random(1)
    for retry, ceiling in ((1, 0.1), (2, 0.2), (3, 0.4), (6, 0.5)):
        waits = [backoff_s(policy, retry, rng) for _ in range(200)]
        assert 0.0 <= min(waits) < ceiling * 0.1 and ceiling * 0.9 < max(waits) <= ceiling


def test_retry_budget_is_a_share_of_first_attempts() -> None:
    budget = RetryBudget(ratio=0.2, window_s=10.0, floor=0)
    for i in range(50):
        budget.first_attempt(float(i) / 10)
    granted = sum(budget.try_retry(5.0) for _ in range(30))
    assert granted == 10  # 20 % of 50
    assert not budget.try_retry(14.0)  # 10 first attempts left in the window: 2 retries, spent
    for _ in range(20):
        budget.first_attempt(15.5)
    assert budget.try_retry(16.0)  # the old retries left the window; new first attempts came


def test_breaker_opens_cools_down_and_lets_one_probe_through() -> None:
    board = Breakers(BreakerPolicy(consecutive_failures=3, cooldown_s=5.0))
    for _ in range(2):
        assert board.admit("t", 0.0) == PASS
        board.of("t").failure(0.0)
    assert board.of("t").failure(0.0) is True
    assert board.state("t", 1.0) == OPEN and board.admit("t", 1.0) == DENY
    assert board.admit("t", 5.1) == PROBE  # cooled down: one trial call
    assert board.admit("t", 5.2) == DENY  # single flight
    board.of("t").failure(5.3)  # the probe failed: open again
    assert board.state("t", 5.4) == OPEN and board.admit("t", 10.0) == DENY
    assert board.admit("t", 10.4) == PROBE
    board.of("t").success(10.5)
    assert board.state("t", 10.6) == CLOSED and board.admit("t", 10.6) == PASS


def test_breaker_error_rate_and_retry_after_cooldown() -> None:
    board = Breakers(BreakerPolicy(error_rate=0.5, min_requests=4, cooldown_s=1.0))
    breaker = board.of("t")
    breaker.success(0.0)
    breaker.failure(0.1)
    breaker.success(0.2)
    assert breaker.failure(0.3, retry_after_s=30.0) is True  # 2 of 4 failed
    assert breaker.open_until == pytest.approx(30.3)  # the upstream's Retry-After, longer


def test_hub_shares_an_open_breaker_and_grants_one_probe_in_the_graph() -> None:
    policy = BreakerPolicy(cooldown_s=1.0)
    hub = Hub()
    views = hub.sync("a", {"t": Report(failed=1, opened_until=11.0)}, policy, 10.0)
    assert views["t"][0] == OPEN
    seen_by_b = hub.sync("b", {}, policy, 10.2)
    assert seen_by_b["t"][0] == OPEN  # the other replica learns at its next sync
    a_half = hub.sync("a", {}, policy, 11.5)
    b_half = hub.sync("b", {}, policy, 11.6)
    assert a_half["t"] == (HALF_OPEN, 11.0, True) and b_half["t"][2] is False
    closed = hub.sync("a", {"t": Report(ok=1, probe="ok")}, policy, 11.7)
    assert "t" not in closed and "t" not in hub.sync("b", {}, policy, 11.8)


def test_a_probe_unanswered_past_the_policys_grant_lets_another_through() -> None:
    policy = BreakerPolicy(cooldown_s=1.0, probe_grant_s=0.5)
    hub = Hub()
    hub.sync("a", {"t": Report(failed=1, opened_until=11.0)}, policy, 10.0)
    assert hub.sync("a", {}, policy, 11.1)["t"][2] is True  # a holds the graph's probe
    assert hub.sync("b", {}, policy, 11.5)["t"][2] is False  # a's probe still has time
    assert hub.sync("b", {}, policy, 11.7)["t"][2] is True  # a never reported: b's turn
    # A replica on its own: its single flight ends with the same grant.
    board = Breakers(policy)
    board.of("t").trip(0.0)
    assert board.admit("t", 1.0) == PROBE
    assert board.admit("t", 1.4) == DENY
    assert board.admit("t", 1.6) == PROBE


def test_the_probe_grant_is_validated_and_reloads_with_the_policy() -> None:
    from routing.resilience.engine import Resilience

    for bad in (0, -1, 301):
        with pytest.raises(ValidationError, match="probe_grant_s"):
            IngressUserConfig.parse({"routing": {"breaker": {"probe_grant_s": bad}}})
    assert RoutingPolicy().breaker.probe_grant_s == 2.0
    engine = Resilience()
    engine.breakers.of("t")
    engine.reload(IngressUserConfig.parse({"routing": {"breaker": {"probe_grant_s": 7}}}).routing)
    # The replica's breakers and what it sends the hub at each sync (breakers.policy).
    assert engine.breakers.of("t").policy.probe_grant_s == 7
    assert engine.breakers.policy.probe_grant_s == 7


def test_replica_follows_the_graph_view_and_falls_back_to_its_own_when_stale() -> None:
    from routing.resilience.breaker import SharedView

    board = Breakers(BreakerPolicy())
    board.apply({"t": SharedView(OPEN, until=20.0)}, fresh_until=11.0, sent_at=10.0)
    assert board.admit("t", 10.5) == DENY  # opened elsewhere: nothing sent from here
    board.apply({"t": SharedView(HALF_OPEN, 20.0, probe_granted=False)}, 31.0, 30.0)
    assert board.admit("t", 30.5) == DENY  # another replica holds the probe
    # The hub went quiet: past its view's freshness this replica decides alone.
    assert board.admit("t", 40.0) == PROBE
