"""The auth-bypass warning is loud but not per request: once at once, then once a minute with
how many requests went through meanwhile."""

from __future__ import annotations

import logging

import pytest

from core.settings import Config
from deployments.auth import AuthService
from deployments.authn.loud import EveryInterval

BYPASS = "Auth is bypassed"


def bypass_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(BYPASS)]


async def test_bypassed_requests_log_the_warning_once_not_per_request(caplog):
    auth = AuthService(Config(auth={"bypass_external": True}).auth_service())
    with caplog.at_level(logging.CRITICAL, logger="aigw.auth"):
        for _ in range(50):
            identity = await auth.authenticate({"x-gitlab-global-user-id": "u1"})
            assert identity.bypass
    lines = bypass_lines(caplog)
    assert len(lines) == 1, lines
    assert "AIGW_AUTH__BYPASS_EXTERNAL" in lines[0]
    assert all(r.levelno == logging.CRITICAL for r in caplog.records if BYPASS in r.getMessage())


def test_the_next_line_after_an_interval_counts_the_requests_in_between(caplog):
    now = [0.0]
    logger = logging.getLogger("aigw.test.loud")
    loud = EveryInterval(logger, "Auth is bypassed", interval_s=60, clock=lambda: now[0])
    with caplog.at_level(logging.CRITICAL, logger="aigw.test.loud"):
        loud.note()  # first: at once
        for _ in range(9):
            now[0] += 1
            loud.note()
        assert len(caplog.records) == 1
        now[0] = 61.0
        loud.note()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["Auth is bypassed", "Auth is bypassed (10 requests since the last line)"]


async def test_each_bypassed_request_is_the_debug_user_with_its_own_user_id():
    auth = AuthService(Config(auth={"bypass_external": True}).auth_service())
    for user in ("u1", "u2", "", "u1", "u2"):
        identity = await auth.authenticate({"x-gitlab-global-user-id": user} if user else {})
        assert identity.bypass and identity.global_user_id == user
        assert identity.can("complete_code") and identity.scopes == ()
