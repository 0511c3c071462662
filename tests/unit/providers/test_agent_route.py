"""The chat agent's stream through the real Anthropic SDK: its response head waits for the
model's first content, so a Claude stream cut after its preamble (`message_start`, `ping`)
is retried before the client sees anything, and the head names the attempt that answered."""

from __future__ import annotations

import json

from core.settings import Config
from deployments.backends.anthropic import AnthropicBackend
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.server import Behaviour
from tests.unit.chat.conftest import chat_client

CLAUDE = "claude_sonnet_4_5_20250929"
AGENT = {"messages": [{"role": "user", "content": "How do I rebase?"}]}


def test_agent_stream_cut_before_content_is_retried_unseen(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.will(
        # message_start, content_block_start, ping: the preamble, then the connection drops.
        Behaviour(kind="cut", pieces=("Thought: easy\nFinal Answer: ", "NEVER"), cut_after=3),
        Behaviour(pieces=("Thought: easy\nFinal Answer: ", "Use git ", "rebase.")),
    )
    settings = {
        "mock_model_responses": False,
        "anthropic_api_key": "sk-ant-server",
        "anthropic_base_url": fake_anthropic.url,
    }
    anthropic = AnthropicBackend(Config(**settings).anthropic_backend())
    with chat_client(settings=settings, backends={"anthropic": anthropic}) as client:
        r = client.post("/v2/chat/agent", json=AGENT)
    assert r.status_code == 200
    events = [json.loads(line) for line in r.text.splitlines()]
    assert [e["type"] for e in events] == ["final_answer_delta"] * 3 + ["usage"], events
    assert "".join(e["data"]["text"] for e in events[:-1]) == "Use git rebase."
    assert r.headers["x-gateway-route"] == f"served={CLAUDE}; tried={CLAUDE}:error"
    assert len(fake_anthropic.received) == 2
