"""What each kind of request reports as its model in mock mode (API.md §4.1, §4.3): the mock of
the model class the call uses, whichever model the request named; and the same names when the
catalogue's echo model is the default outside mock mode."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.errors import ModelUnavailable, UnprocessableError
from core.mock_models import FAKE_MODEL, MOCK_CHAT, MOCK_TEXT, answering
from routing.catalogue import load_catalogue, target_of
from routing.mock_overlay import with_mock_overlay
from routing.model_router import ModelRouter
from routing.selection import ModelSelection
from tests.payloads import v2_body, v3_body
from tests.unit.chat.conftest import chat_client
from tests.unit.conftest import make_client

TEXT = {"engine": "llm-provider-mocked", "name": "llm-mocked"}
CHAT = {"engine": "chat-model-provider-mocked", "name": "chat-model-mocked"}
BYPASS = {"auth": {"bypass_external": True}}
CALLS = ("text", "chat", "prompt")


def model_of(body: dict[str, Any]) -> dict[str, str]:
    return {"engine": body["model"]["engine"], "name": body["model"]["name"]}


@pytest.mark.parametrize("mock_mode", [True, False])
@pytest.mark.parametrize(
    ("path", "version", "expected"),
    [
        ("/v2/code/completions", 1, TEXT),
        ("/v2/code/completions", 2, TEXT),
        ("/v2/code/completions", 3, CHAT),
        ("/v2/code/generations", 1, CHAT),
        ("/v2/code/generations", 2, CHAT),  # a caller's text prompt, still a chat model
        ("/v2/code/generations", 3, CHAT),
    ],
)
def test_v2_reports_the_mock_of_the_model_class(mock_mode, path, version, expected):
    client = make_client({**BYPASS, "mock_model_responses": mock_mode})
    response = client.post(path, json=v2_body(version))
    assert response.status_code == 200
    assert model_of(response.json()) == expected


@pytest.mark.parametrize(
    ("kind", "payload", "expected"),
    [
        ("code_editor_completion", {}, TEXT),
        ("code_editor_completion", {"prompt": "caller text"}, TEXT),
        ("code_editor_completion", {"prompt": [{"role": "user", "content": "hi"}]}, CHAT),
        ("code_editor_generation", {}, CHAT),
        ("code_editor_generation", {"prompt": "caller text"}, CHAT),
    ],
)
def test_v3_and_v4_report_the_mock_of_the_model_class(kind, payload, expected):
    client = make_client(BYPASS)
    for path in ("/v3/code/completions", "/v4/code/suggestions"):
        response = client.post(path, json=v3_body(kind, **payload))
        assert response.status_code == 200
        assert model_of(response.json()) == expected


def test_a_named_model_is_still_answered_by_the_mock():
    client = make_client(BYPASS)
    named = v2_body(model_provider="gitlab", model_name="claude_sonnet_4_5_20250929")
    assert model_of(client.post("/v2/code/completions", json=named).json()) == TEXT
    direct = v2_body(model_provider="anthropic", model_name="claude-sonnet-4-6")
    assert model_of(client.post("/v2/code/generations", json=direct).json()) == CHAT
    unknown = v2_body(model_provider="anthropic", model_name="claude-2.1")
    assert client.post("/v2/code/completions", json=unknown).status_code == 422


def v1_chat(content: Any) -> dict[str, Any]:
    meta = {"source": "GitLab EE", "version": "17.2.0"}
    return {
        "prompt_components": [{"type": "prompt", "metadata": meta, "payload": {"content": content}}]
    }


@pytest.mark.parametrize("mock_mode", [True, False])
def test_v1_chat_reports_the_text_or_chat_mock(mock_mode):
    client = chat_client(settings={"mock_model_responses": mock_mode})
    text = client.post("/v1/chat/explain_code", json=v1_chat("hi")).json()
    chat = client.post("/v1/chat/explain_code", json=v1_chat([{"role": "user", "content": "hi"}]))
    assert text["metadata"]["model"] == "llm-mocked"
    assert chat.json()["metadata"]["model"] == "chat-model-mocked"


COMMIT = {"inputs": {"diff": "+x"}}
AGENT = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("settings", "model"),
    [
        ({}, "fake-model"),
        ({"use_agentic_mock": True}, "agentic-fake-model"),
        ({"mock_model_responses": False}, "chat-model-mocked"),  # the echo model, as chat
    ],
)
def test_registry_prompts_and_the_agent_report_the_registry_mock(settings, model):
    client = chat_client(settings=settings)
    body = client.post("/v2/prompts/generate_commit_message", json=COMMIT).json()
    assert list(body["usage"]) == [model]
    lines = client.post("/v2/chat/agent", json=AGENT).text.splitlines()
    assert list(json.loads(lines[-1])["data"]["usage"]) == [model]


SELECTIONS = [
    ModelSelection(provider="gitlab", identifier="claude_sonnet_4_5_20250929", from_metadata=True),
    ModelSelection(provider="fireworks_ai", from_metadata=True),
    ModelSelection(
        provider="openai", name="mistral", identifier="custom_openai/m", from_metadata=True
    ),
    ModelSelection(provider="anthropic", name="claude-sonnet-4-6"),
    ModelSelection(provider="fireworks_ai", name="codestral-2508"),
]


@pytest.mark.parametrize("selection", SELECTIONS)
def test_the_overlay_answers_every_choice_that_passes_the_checks(selection):
    catalogue = load_catalogue()
    overlaid = with_mock_overlay(catalogue)
    assert ModelRouter(overlaid, ["mock"]).choose("code_completions", selection) == (
        overlaid.stand_in
    )
    with pytest.raises(ModelUnavailable):  # the same choice, unserved, without the overlay
        ModelRouter(catalogue, ["mock"]).choose("code_completions", selection)


def test_the_overlay_keeps_the_contracts_checks():
    router = ModelRouter(with_mock_overlay(load_catalogue()), ["mock"])
    with pytest.raises(UnprocessableError, match="model x is not supported"):
        router.choose("code_completions", ModelSelection(provider="anthropic", name="x"))
    with pytest.raises(UnprocessableError, match="custom models endpoint is disabled"):
        router.choose("code_completions", ModelSelection(endpoint="http://m/v1"))


def test_a_stand_in_answers_as_the_model_class_of_the_call():
    fake = with_mock_overlay(load_catalogue()).stand_in
    agentic = with_mock_overlay(load_catalogue(), agentic=True, use_last_human_message=False)
    assert fake is not None and agentic.stand_in is not None
    assert (answering(fake, "text").engine, answering(fake, "text").name) == tuple(TEXT.values())
    assert answering(fake, "chat") == MOCK_CHAT
    assert answering(fake, "prompt") == FAKE_MODEL
    scripted = answering(agentic.stand_in, "prompt")
    assert scripted.mock is not None and scripted.mock.answer == "agentic"
    assert not scripted.mock.use_last_human_message
    # Outside mock mode the echo model has no registry mock: a prompt is a chat call.
    assert answering(MOCK_TEXT, "prompt") == MOCK_CHAT
    real = load_catalogue().models["codestral_2508_vertex"]
    assert all(answering(target_of(real), call) == target_of(real) for call in CALLS)
