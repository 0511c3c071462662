"""A limit rule that selects a fallback's model, over HTTP (TestClient) with the real
Anthropic SDK backend against its fake: the request starts on Claude (no rule), Claude is
overloaded, and the embedded model's rule decides at the fallback. Its reservation is the
fallback call's own size, a whole answer's head names the rule, and a refusal there is in
the access log."""

from __future__ import annotations

import pytest

from core.types import ModelRequest, ModelResult
from deployments.backends.mock import MockBackend
from observability.metrics import MemoryMetrics
from routing.admission import Admission, InProcessStore, LimitRule
from routing.admission.metrics import AdmissionMetrics
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Behaviour
from tests.unit.observability_helpers import LogCapture
from tests.unit.providers.test_resilience_api import LOCAL, client, generation
from tests.unit.test_access_log import access_lines

OVERLOADED = Behaviour(kind="status", status=529)


class Recording(MockBackend):
    def __init__(self) -> None:
        super().__init__()
        self.max_tokens: list[int | None] = []

    async def generate(self, request: ModelRequest) -> ModelResult:
        self.max_tokens.append(request.max_tokens)
        return await super().generate(request)


def test_a_fallbacks_rule_reserves_the_fallback_calls_own_max_tokens(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    memory = MemoryMetrics()
    admission = Admission(InProcessStore(), AdmissionMetrics(memory))
    # Claude's call asks for 2048 tokens, the embedded model's rebuilt call for 128: with
    # 600 tokens a minute the fallback fits only when it reserves its own call's size.
    admission.configure(
        [LimitRule(name="local-tpm", match={"model": LOCAL.name}, tokens_per_minute=600)]
    )
    local = Recording()
    fake_anthropic.will(OVERLOADED, OVERLOADED)
    gw = client(fake_openai, fake_anthropic, local=local, admission=admission)
    r = gw.post("/v4/code/suggestions", json=generation(False))
    assert r.status_code == 200, r.text
    assert b'"max_tokens":2048' in fake_anthropic.received[0].body
    assert local.max_tokens == [128]
    reserved = memory.total("rate_limit_tokens_reserved_total", rule="local-tpm")
    committed = memory.total("rate_limit_tokens_committed_total", rule="local-tpm")
    inputs = committed - len(r.json()["choices"][0]["text"].split())  # the echo's words
    assert 128 < reserved <= 128 + inputs + 8  # input (the ingress's count) + 128
    admission.close()


@pytest.mark.parametrize("stream", [False, True])
def test_a_fallbacks_rule_is_in_the_answer_head_and_its_refusal_in_the_access_log(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, stream: bool
) -> None:
    capture = LogCapture()
    admission = Admission(InProcessStore())
    admission.configure(
        [LimitRule(name="local-rpm", match={"model": LOCAL.name}, requests_per_minute=1)]
    )
    fake_anthropic.will(*[OVERLOADED] * 4)
    gw = client(fake_openai, fake_anthropic, admission=admission)
    served = gw.post("/v4/code/suggestions", json=generation(stream))
    refused = gw.post("/v4/code/suggestions", json=generation(stream))
    lines = access_lines(capture.lines())
    assert served.status_code == 200, served.text
    assert served.headers["x-gateway-route"].startswith("served=smollm2_135m_local")
    # The head is sent after the fallback was admitted (a stream's waits for its first
    # chunk): it names the fallback's rule.
    assert served.headers["RateLimit-Policy"] == '"local-rpm";q=1;w=60'
    assert served.headers["RateLimit"].startswith('"local-rpm";r=0;t=')
    # The next request's fallback is refused there: the client gets Claude's failure (what
    # made it move), the head names the rule, and so does the access log.
    assert refused.status_code != 200
    assert refused.headers["x-gateway-route"].endswith("smollm2_135m_local:shed")
    assert refused.headers["RateLimit-Policy"] == '"local-rpm";q=1;w=60'
    assert [line.get("rate_limit_rule") for line in lines] == [None, "local-rpm"]
    admission.close()
