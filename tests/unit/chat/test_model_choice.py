"""Which model a chat or prompt request gets when it names one (API.md §6.1)."""

from __future__ import annotations

from tests.unit.chat.conftest import chat_client
from tests.unit.conftest import ScriptedBackend

COMMIT = {"inputs": {"diff": "+x"}}


def with_metadata(**metadata):
    return {**COMMIT, "model_metadata": metadata}


def test_unknown_gitlab_model_is_a_422():
    body = with_metadata(provider="gitlab", identifier="gpt_9000")
    response = chat_client().post("/v2/prompts/generate_commit_message", json=body)
    assert (response.status_code, response.json()) == (
        422,
        {"detail": "model gpt_9000 is not supported"},
    )


def test_known_gitlab_model_whose_backend_is_not_running_is_unavailable():
    body = with_metadata(provider="gitlab", identifier="claude_sonnet_4_5_20250929")
    client = chat_client(settings={"mock_model_responses": False})
    response = client.post("/v2/prompts/generate_commit_message", json=body)
    assert (response.status_code, response.json()) == (503, {"detail": "Inference failed"})
    mocked = chat_client().post("/v2/prompts/generate_commit_message", json=body)
    assert mocked.status_code == 200


def test_self_hosted_endpoint_needs_custom_models_everywhere():
    metadata = {"provider": "openai", "name": "mistral", "endpoint": "http://127.0.0.1:9/v1"}
    disabled = {"detail": "specifying custom models endpoint is disabled"}
    client = chat_client()
    prompt = client.post("/v1/prompts/generate_commit_message", json=with_metadata(**metadata))
    assert (prompt.status_code, prompt.json()) == (422, disabled)
    agent = client.post(
        "/v2/chat/agent",
        json={"messages": [{"role": "user", "content": "hi"}], "model_metadata": metadata},
    )
    assert (agent.status_code, agent.json()) == (422, disabled)


def test_self_hosted_without_an_openai_compatible_backend_is_unavailable():
    metadata = {"provider": "openai", "name": "mistral", "identifier": "custom_openai/m"}
    client = chat_client(
        settings={"mock_model_responses": False, "custom_models": {"enabled": True}}
    )
    response = client.post("/v1/prompts/generate_commit_message", json=with_metadata(**metadata))
    assert response.status_code == 503


def test_without_mock_mode_chat_goes_to_the_catalogue_model_of_duo_chat():
    anthropic = ScriptedBackend(chunks=("from claude",))
    client = chat_client(
        settings={"mock_model_responses": False}, backends={"anthropic": anthropic}
    )
    body = {
        "prompt_components": [
            {
                "type": "prompt",
                "metadata": {"source": "GitLab EE", "version": "17.2.0"},
                "payload": {"content": [{"role": "user", "content": "x"}]},
            }
        ]
    }
    response = client.post("/v1/chat/agent", json=body).json()
    assert response["response"] == "from claude"
    assert response["metadata"]["model"] == "claude-sonnet-4-5-20250929"
    prompt = client.post("/v2/prompts/generate_commit_message", json=COMMIT).json()
    assert prompt == {"content": "from claude"}
    (_, request) = anthropic.requests
    assert request.target.identifier == "claude-sonnet-4-5-20250929"
    assert request.max_tokens == 4096  # the claude family's prompt file


def v1_body(**payload):
    meta = {"source": "GitLab EE", "version": "17.2.0"}
    content = [{"role": "user", "content": "x"}]
    return {
        "prompt_components": [
            {"type": "prompt", "metadata": meta, "payload": {"content": content, **payload}}
        ]
    }


def test_self_hosted_chat_asks_for_the_model_without_its_litellm_prefix():
    server = ScriptedBackend(chunks=("ok",))
    client = chat_client(
        settings={"mock_model_responses": False, "custom_models": {"enabled": True}},
        backends={"openai_compat": server},
    )
    metadata = {
        "provider": "openai",
        "name": "codestral",
        "endpoint": "http://vllm:8000/v1/",
        "identifier": "custom_openai/codestral-22b",
    }
    prompt = client.post("/v2/prompts/generate_commit_message", json=with_metadata(**metadata))
    assert prompt.status_code == 200
    chat = client.post(
        "/v1/chat/agent",
        json=v1_body(
            provider="litellm",
            model="codestral",
            model_endpoint="http://vllm:8000/v1",
            model_identifier="custom_openai/codestral-22b",
        ),
    )
    assert chat.json()["metadata"]["model"] == "codestral-22b"
    for request in server.requests:
        assert request.target.identifier == "codestral-22b"
        assert request.target.endpoint == "http://vllm:8000/v1"
        assert "\n\n" not in request.target.stop  # code completion stops only


def test_v1_chat_gets_the_claude_model_it_names():
    anthropic = ScriptedBackend(chunks=("hi",))
    client = chat_client(
        settings={"mock_model_responses": False}, backends={"anthropic": anthropic}
    )
    haiku = client.post("/v1/chat/agent", json=v1_body(model="claude-haiku-4-5-20251001"))
    assert haiku.json()["metadata"]["model"] == "claude-haiku-4-5-20251001"
    assert anthropic.requests[0].target.identifier == "claude-haiku-4-5-20251001"
    unknown = client.post("/v1/chat/agent", json=v1_body(model="claude-2.1"))
    assert (unknown.status_code, unknown.json()) == (
        422,
        {"detail": "model claude-2.1 is not supported"},
    )


def test_a_feature_setting_we_do_not_model_means_the_default():
    body = with_metadata(provider="gitlab", feature_setting="duo_chat_explain_code")
    anthropic = ScriptedBackend(chunks=("from claude",))
    client = chat_client(
        settings={"mock_model_responses": False}, backends={"anthropic": anthropic}
    )
    response = client.post("/v2/prompts/generate_commit_message", json=body)
    assert response.json() == {"content": "from claude"}
