"""`/v1|v2/prompts` and `/prompt_directory_structure` (API.md §1.7, §5.1) over plain classes."""

from __future__ import annotations

import json

import pytest

from core.errors import ModelError, ModelRateLimited, ModelTimeout
from tests.unit.chat.conftest import chat_client
from tests.unit.conftest import ScriptedBackend, make_client

COMMIT = {"inputs": {"diff": "+print('hi')"}}


def test_v1_answers_the_text_as_a_json_string_and_v2_with_usage():
    client = chat_client()
    v1 = client.post("/v1/prompts/generate_commit_message", json=COMMIT)
    assert v1.status_code == 200 and v1.json() == "mock"
    v2 = client.post("/v2/prompts/generate_commit_message", json=COMMIT)
    assert v2.status_code == 200
    assert v2.json() == {
        "content": "mock",
        "usage": {"fake-model": {"input_tokens": 0, "output_tokens": 1}},
    }


def test_v2_omits_usage_when_there_is_none():
    client = chat_client(backend=ScriptedBackend(chunks=("fixed ", "message")))
    body = client.post("/v2/prompts/generate_commit_message", json=COMMIT).json()
    assert body == {"content": "fixed message"}


def test_streams_raw_text_v1_and_json_lines_v2():
    backend = ScriptedBackend(chunks=("Add ", "greeting"))
    client = chat_client(backend=backend)
    v1 = client.post("/v1/prompts/generate_commit_message", json={**COMMIT, "stream": True})
    assert v1.status_code == 200 and v1.text == "Add greeting"
    assert v1.headers["content-type"].startswith("text/event-stream")
    v2 = client.post("/v2/prompts/generate_commit_message", json={**COMMIT, "stream": True})
    lines = [json.loads(line) for line in v2.text.splitlines()]
    assert lines == [{"content": "Add "}, {"content": "greeting"}]  # no usage: no usage line


def test_streamed_v2_ends_with_a_usage_line_only_when_there_is_usage():
    body = {**COMMIT, "stream": True}
    lines = chat_client().post("/v2/prompts/generate_commit_message", json=body).text.splitlines()
    assert [json.loads(line) for line in lines] == [
        {"content": "mock"},
        {"content": "", "usage": {"fake-model": {"input_tokens": 0, "output_tokens": 1}}},
    ]


def test_the_rendered_prompt_reaches_the_model_with_the_prompt_params():
    backend = ScriptedBackend(chunks=("ok",))
    client = chat_client(backend=backend, settings={"duo_chat": {"max_tokens": 77}})
    body = {"inputs": {"selected_text": "def add(a, b): return a + b", "file_path": "m.py"}}
    assert client.post("/v1/prompts/chat/explain_code", json=body).status_code == 200
    (request,) = backend.requests
    assert request.kind == "chat"
    assert [m.role for m in request.messages] == ["system", "user"]
    assert (
        "def add(a, b)" in request.messages[1].content and "`m.py`" in request.messages[1].content
    )
    assert request.max_tokens == 77  # AIGW_DUO_CHAT__MAX_TOKENS wins for chat/* prompts
    assert request.timeouts.total_s == 30


def test_model_metadata_name_picks_that_family():
    backend = ScriptedBackend(chunks=("ok",))
    client = chat_client(backend=backend)
    body = {**COMMIT, "model_metadata": {"provider": "openai", "name": "smollm2"}}
    assert client.post("/v1/prompts/generate_commit_message", json=body).status_code == 200
    assert "<|im_end|>" in backend.requests[0].stop


@pytest.mark.parametrize(
    ("path", "body", "status", "detail"),
    [
        ("/v1/prompts/does/not/exist", COMMIT, 404, "Prompt 'does/not/exist' not found"),
        ("/v2/prompts/chat/react", COMMIT, 422, "Prompt 'chat/react' is not supported"),
        (
            "/v1/prompts/generate_commit_message",
            {**COMMIT, "prompt_version": "not a constraint!"},
            422,
            "Invalid version constraint",
        ),
    ],
)
def test_resolution_errors(path, body, status, detail):
    response = chat_client().post(path, json=body)
    assert (response.status_code, response.json()) == (status, {"detail": detail})


def test_unresolvable_version_is_a_400_with_the_reason():
    body = {**COMMIT, "prompt_version": "^2.0.0"}
    response = chat_client().post("/v1/prompts/generate_commit_message", json=body)
    assert response.status_code == 400 and "^2.0.0" in response.json()["detail"]


def test_missing_variable_is_a_422_naming_it():
    response = chat_client().post("/v2/prompts/generate_commit_message", json={"inputs": {}})
    assert response.status_code == 422 and "'diff'" in response.json()["detail"]


def test_missing_unit_primitive_is_a_403():
    client = chat_client(scopes=("duo_chat",))
    response = client.post("/v1/prompts/generate_commit_message", json=COMMIT)
    assert response.status_code == 403
    assert response.json() == {"detail": "Unauthorized to access 'generate_commit_message'"}
    client = chat_client(scopes=("generate_commit_message",))
    assert client.post("/v1/prompts/generate_commit_message", json=COMMIT).status_code == 200


def test_model_configuration_check_needs_complete_code():
    assert (
        chat_client(scopes=("complete_code",))
        .post("/v1/prompts/model_configuration/check", json={"inputs": {}})
        .json()
        == "mock"
    )
    assert (
        chat_client(scopes=("duo_chat",))
        .post("/v1/prompts/model_configuration/check", json={"inputs": {}})
        .status_code
        == 403
    )


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (
            ModelError("anthropic answered HTTP 500", upstream_status=500),
            421,
            "500: Internal Server Error",
        ),
        (ModelRateLimited("slow down", "3"), 421, "429: Too Many Requests"),
        (ModelError("anthropic answered HTTP 400", upstream_status=400), 421, "400: Bad Request"),
        (ModelTimeout("late"), 503, "Inference failed"),
    ],
)
def test_provider_errors(error, status, detail, stream):
    client = chat_client(backend=ScriptedBackend(error=error))
    response = client.post("/v2/prompts/generate_commit_message", json={**COMMIT, "stream": stream})
    assert (response.status_code, response.json()) == (status, {"detail": detail})


def test_bad_bodies_are_422_not_500():
    client = chat_client()
    for body in ({"inputs": "text"}, {"stream": "maybe"}, {"prompt_version": ["1"]}):
        assert client.post("/v1/prompts/generate_commit_message", json=body).status_code == 422


def test_directory_structure_is_public_and_generated_from_the_files():
    client = make_client()  # real AuthService, no bypass: every other route needs a token
    assert client.post("/v1/prompts/generate_commit_message", json=COMMIT).status_code == 401
    response = client.get("/prompt_directory_structure")
    assert response.status_code == 200
    body = response.json()
    assert body["chat"]["react"]["base"] == ["1.0.0"]
    assert body["model_configuration/check"]["claude"] == ["1.0.0"]  # {feature: {family: ...}}
    assert "1.0.0" in body["code_suggestions"]["completions"]["base"]
    for prompt in ("resolve_vulnerability", "summarize_comments", "troubleshoot_job"):
        assert body[prompt]["base"] == ["1.0.0"]
