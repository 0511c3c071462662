"""How admission reaches the wire: the user_config block, the 429's shape, a stream's cap."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError

from core.errors import RateLimitExceeded
from core.types import Chunk
from routing.admission import Admission, InProcessStore, LimitRule, Subject
from routing.admission.streams import metered
from serve_app.api.error_policy import error_response
from serve_app.user_config import IngressUserConfig

RULE = {"name": "per-user", "requests_per_minute": 120, "tokens_per_minute": 60000}


def test_the_limits_block_is_validated_as_a_whole() -> None:
    parsed = IngressUserConfig.parse({"limits": [RULE]})
    assert parsed.limits[0].tokens_per_minute == 60000
    with pytest.raises(ValidationError, match="two limit rules"):
        IngressUserConfig.parse({"limits": [RULE, RULE]})
    with pytest.raises(ValidationError):
        IngressUserConfig.parse({"limits": [{**RULE, "key": "body_field"}]})


def test_a_refusal_is_a_429_naming_the_rule_with_retry_after_and_ratelimit_headers() -> None:
    exc = RateLimitExceeded("Rate limit 'per-user' exceeded (requests)", "per-user", 17)
    exc.headers = {"RateLimit-Policy": '"per-user";q=120;w=60', "RateLimit": '"per-user";r=0;t=17'}
    response = error_response(exc)
    assert response.status_code == 429
    assert json.loads(bytes(response.body)) == {
        "detail": "Rate limit 'per-user' exceeded (requests)"
    }
    assert response.headers["Retry-After"] == "17"
    assert response.headers["RateLimit"] == '"per-user";r=0;t=17'


async def test_a_stream_past_its_reservation_is_cut_and_charged_what_it_sent() -> None:
    admission = Admission(InProcessStore())
    admission.configure([LimitRule(name="t", tokens_per_minute=1000)])
    subject = Subject("code_completions", "", (), "", "u", "")
    ticket = await admission.admit(subject, lambda: 10, 5)

    async def chatty() -> AsyncIterator[Chunk]:  # a backend that ignores max_tokens
        for _ in range(50):
            yield Chunk(text="x")

    pieces = [c.text async for c in metered(ticket, chatty())]
    assert len(pieces) == 5 and ticket.output_tokens == 5
    admission.close()
