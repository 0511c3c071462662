"""Admission's hold on a request follows it to a fallback, over HTTP (TestClient) with the
real Anthropic SDK backend against its fake: the fallback's priority gate is passed, and the
`max_tokens` a `shrink` rule lowered is what the fallback's own rebuilt call asks for."""

from __future__ import annotations

from core.types import ModelRequest, ModelResult
from deployments.backends.mock import MockBackend
from routing.admission import Admission, InProcessStore, LimitRule
from routing.admission.priority import PriorityPolicy
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Behaviour
from tests.unit.providers.test_resilience_api import client, generation


class Recording(MockBackend):
    """The embedded model's backend (the echo class), noting each call and what the
    admission gate of its backend held while it ran."""

    def __init__(self, admission: Admission) -> None:
        super().__init__()
        self.admission = admission
        self.seen: list[tuple[int | None, int]] = []  # (max_tokens, slots in use)

    async def generate(self, request: ModelRequest) -> ModelResult:
        gate = self.admission.priorities.gate("local")
        self.seen.append((request.max_tokens, gate.in_flight if gate else -1))
        return await super().generate(request)


def test_a_fallback_passes_its_own_gate_and_keeps_the_shrunk_max_tokens(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    admission = Admission(InProcessStore())
    # 50 tokens a minute: the 3-token prompt leaves 47 for the answer (Claude asks 2048).
    admission.configure([LimitRule(name="t", tokens_per_minute=50, on_short_budget="shrink")])
    # Only the embedded model's backend is gated: the request starts on Claude, ungated.
    admission.priorities.configure(
        PriorityPolicy.model_validate({"backends": {"local": {"max_ongoing_requests": 4}}})
    )
    local = Recording(admission)
    overloaded = Behaviour(kind="status", status=529)
    fake_anthropic.will(overloaded, overloaded)
    gw = client(fake_openai, fake_anthropic, local=local, admission=admission)
    r = gw.post("/v4/code/suggestions", json=generation(False))
    assert r.status_code == 200, r.text
    assert r.headers["x-gateway-route"].startswith("served=smollm2_135m_local")
    assert b'"max_tokens":47' in fake_anthropic.received[0].body
    # The fallback asked for what was reserved (its own default is 128), holding a slot.
    assert local.seen == [(47, 1)]
    gate = admission.priorities.gate("local")
    assert gate is not None and gate.in_flight == 0  # given back when the request ended
    admission.close()
