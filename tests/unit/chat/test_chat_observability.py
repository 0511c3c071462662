"""Chat and prompt calls are counted under the prompt's unit primitive, like code suggestions."""

from __future__ import annotations

from tests.unit.observability_helpers import observed


def test_model_calls_are_labelled_with_the_prompts_unit_primitive():
    client, store, _ = observed()
    body = {"inputs": {"diff": "+x"}}
    assert client.post("/v1/prompts/generate_commit_message", json=body).status_code == 200
    agent = {"messages": [{"role": "user", "content": "hi"}]}
    assert client.post("/v2/chat/agent", json=agent).status_code == 200
    assert store.total("model_inferences_total", unit_primitive="generate_commit_message") == 1
    assert store.total("model_inferences_total", unit_primitive="duo_chat") == 1
