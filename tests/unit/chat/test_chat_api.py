"""`/v1/chat/{chat_invokable}` and `/v2/chat/agent` (API.md §1.6) over plain classes."""

from __future__ import annotations

import datetime
import json

import pytest

from core.errors import ModelError, ModelRateLimited, ModelTimeout
from tests.unit.chat.conftest import chat_client
from tests.unit.conftest import ScriptedBackend


def v1_body(content, stream=False, **payload):
    return {
        "prompt_components": [
            {
                "type": "prompt",
                "metadata": {"source": "GitLab EE", "version": "17.2.0"},
                "payload": {"content": content, **payload},
            }
        ],
        "stream": stream,
    }


def echoed(text: str) -> dict:
    assert text.startswith("echo: ")
    return json.loads(text[len("echo: ") :])


def test_v1_string_content_goes_to_the_text_model():
    response = chat_client().post("/v1/chat/explain_code", json=v1_body("\n\nHuman: hi"))
    assert response.status_code == 200
    body = response.json()
    assert body["metadata"]["provider"] == "anthropic"
    assert body["metadata"]["model"] == "llm-mocked"
    assert isinstance(body["metadata"]["timestamp"], int)
    scope = echoed(body["response"])
    assert scope["prefix"] == "\n\nHuman: hi"
    assert scope["kwargs"]["stop"] == ["\n\nHuman", "Observation:"]


def test_v1_message_content_goes_to_the_chat_model_with_max_tokens_clamped():
    messages = [{"role": "user", "content": "explain"}]
    params = {"max_tokens_to_sample": 8192, "temperature": 0.5, "stop_sequences": ["END"]}
    body = chat_client().post("/v1/chat/agent", json=v1_body(messages, params=params)).json()
    scope = echoed(body["response"])
    assert scope["messages"] == messages
    assert scope["kwargs"] == {"temperature": "0.5", "max_output_tokens": "4096", "stop": ["END"]}
    assert body["metadata"]["model"] == "chat-model-mocked"


def test_v1_streams_raw_text():
    response = chat_client().post("/v1/chat/explain_code", json=v1_body("hi", stream=True))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert echoed(response.text)["stream"] is True


@pytest.mark.parametrize(
    ("invokable", "primitive"),
    [
        ("explain_code", "duo_chat"),
        ("write_tests", "duo_chat"),
        ("refactor_code", "duo_chat"),
        ("agent", "duo_chat"),
        ("explain_vulnerability", "explain_vulnerability"),
        ("summarize_comments", "summarize_comments"),
        ("troubleshoot_job", "troubleshoot_job"),
    ],
)
def test_v1_invokables_need_their_unit_primitive(invokable, primitive):
    denied = chat_client(scopes=("complete_code",)).post(f"/v1/chat/{invokable}", json=v1_body("x"))
    assert denied.status_code == 403
    assert denied.json() == {"detail": f"Unauthorized to access {primitive}"}
    allowed = chat_client(scopes=(primitive,)).post(f"/v1/chat/{invokable}", json=v1_body("x"))
    assert allowed.status_code == 200


def test_v1_unknown_invokable_is_404():
    response = chat_client().post("/v1/chat/write_poems", json=v1_body("x"))
    assert (response.status_code, response.json()) == (404, {"detail": "Not found"})


@pytest.mark.parametrize(
    "payload",
    [
        {"params": {"temperature": 1.5}},
        {"params": {"max_tokens_to_sample": 0}},
        {"params": {"max_tokens_to_sample": 8193}},
        {"params": {"stop_sequences": []}},
        {"params": {"stop_sequences": ["x" * 226]}},
        {"params": {"stop_sequences": [str(i) for i in range(11)]}},
        {"provider": "openai"},
    ],
)
def test_v1_params_limits(payload):
    assert chat_client().post("/v1/chat/agent", json=v1_body("x", **payload)).status_code == 422


def test_v1_body_shape_limits():
    client = chat_client()
    two = v1_body("x")
    two["prompt_components"] *= 2
    assert client.post("/v1/chat/agent", json=two).status_code == 422
    assert client.post("/v1/chat/agent", json=v1_body("x" * 400_001)).status_code == 422
    assert client.post("/v1/chat/agent", json=v1_body([])).status_code == 422


def test_v1_self_hosted_endpoint_needs_custom_models():
    body = v1_body("x", provider="litellm", model_endpoint="http://127.0.0.1:1/v1")
    response = chat_client(settings={"mock_model_responses": False}).post(
        "/v1/chat/agent", json=body
    )
    assert response.status_code == 422
    assert response.json() == {"detail": "specifying custom models endpoint is disabled"}
    custom = {"custom_models": {"enabled": True}}
    mocked = chat_client(settings=custom).post("/v1/chat/agent", json=body)
    assert mocked.status_code == 200 and mocked.json()["metadata"]["provider"] == "litellm"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (ModelError("x", upstream_status=500), 502, "Anthropic API Status Error."),
        (ModelTimeout("late"), 504, "Anthropic API Timeout Error."),
        (ModelError("connect failed"), 502, "Anthropic API Connection Error."),
        (ModelRateLimited("slow", "7"), 429, "Too many requests. Please try again later."),
    ],
)
def test_v1_upstream_errors(error, status, detail, stream):
    client = chat_client(backend=ScriptedBackend(error=error))
    response = client.post("/v1/chat/explain_code", json=v1_body("x", stream=stream))
    assert (response.status_code, response.json()) == (status, {"detail": detail})


def test_duo_core_cutoff():
    headers = {"X-Gitlab-Feature-Enablement-Type": "duo_core"}
    flags = {"process_level_feature_flags": {"duo_classic_chat_duo_core_cutoff": True}}
    client = chat_client(settings=flags)
    message = "Duo Core no longer authorized to access Duo Classic Chat"
    for path, body in (("/v1/chat/agent", v1_body("x")), ("/v2/chat/agent", AGENT)):
        response = client.post(path, json=body, headers=headers)
        assert (response.status_code, response.json()) == (403, {"detail": message})
        assert client.post(path, json=body).status_code == 200
    assert (
        chat_client().post("/v1/chat/agent", json=v1_body("x"), headers=headers).status_code == 200
    )


AGENT = {"messages": [{"role": "user", "content": "How do I rebase?"}]}


def ndjson(text: str) -> list[dict]:
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_agent_streams_final_answer_deltas_and_usage():
    backend = ScriptedBackend(chunks=("Thought: easy\nFinal ", "Answer: Use ", "git rebase."))
    response = chat_client(backend=backend).post("/v2/chat/agent", json=AGENT)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson; charset=utf-8"
    events = ndjson(response.text)
    assert events[:-1] == [
        {"type": "final_answer_delta", "data": {"text": "Use ", "finish_reason": None}},
        {"type": "final_answer_delta", "data": {"text": "git rebase.", "finish_reason": None}},
        {"type": "final_answer_delta", "data": {"text": "", "finish_reason": "stop"}},
    ]
    assert events[-1]["type"] == "usage"
    (request,) = backend.requests
    assert request.stop == ["Observation:"] and request.stream
    assert "How do I rebase?" in request.messages[-1].content
    today = datetime.date.today()
    assert f"{today:%B} {today.day}, {today.year}" in request.messages[0].content


def test_agent_action_and_scratchpad_rendered_as_the_assistant_turn():
    backend = ScriptedBackend(
        chunks=("Thought: read it\nAction: issue_reader\n", "Action Input: #3")
    )
    body = {
        "messages": [
            {"role": "user", "content": "earlier question"},
            {"role": "assistant", "content": "earlier answer"},
            {"role": "user", "content": "Summarize #3"},
        ],
        "options": {
            "agent_scratchpad": {
                "agent_type": "react",
                "steps": [
                    {"thought": "t", "tool": "epic_reader", "tool_input": "&1", "observation": "o"}
                ],
            }
        },
        "unavailable_resources": ["Pipelines"],
    }
    events = ndjson(chat_client(backend=backend).post("/v2/chat/agent", json=body).text)
    assert events[0] == {
        "type": "action",
        "data": {"tool": "issue_reader", "tool_input": "#3", "thought": "read it"},
    }
    roles = [(m.role, m.content[:16]) for m in backend.requests[0].messages]
    assert roles[1:] == [
        ("user", "earlier question"),
        ("assistant", "earlier answer"),
        ("user", "Question: Summar"),
        ("assistant", "Thought: t\nActio"),
    ]
    assert "Pipelines" in backend.requests[0].messages[0].content


def test_agent_message_level_scratchpad():
    backend = ScriptedBackend(chunks=("Final Answer: done",))
    body = {
        "messages": [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": "",
                "agent_scratchpad": [
                    {
                        "action": {"thought": "t", "tool": "x", "tool_input": "i"},
                        "observation": "seen",
                    }
                ],
            },
        ]
    }
    assert chat_client(backend=backend).post("/v2/chat/agent", json=body).status_code == 200
    assert "Observation: seen" in backend.requests[0].messages[-1].content


def test_agent_malformed_output_is_unknown():
    backend = ScriptedBackend(chunks=("I refuse ", "to follow the format"))
    events = ndjson(chat_client(backend=backend).post("/v2/chat/agent", json=AGENT).text)
    assert events[0] == {"type": "unknown", "data": {"text": "I refuse to follow the format"}}


@pytest.mark.parametrize(
    ("error", "retryable"),
    [(ModelTimeout("late"), True), (ModelError("bad", upstream_status=400), False)],
)
def test_agent_model_failure_is_an_error_event(error, retryable):
    backend = ScriptedBackend(error=error, chunks=("Final Answer: par",))
    response = chat_client(backend=backend).post("/v2/chat/agent", json=AGENT)
    assert response.status_code == 200
    events = ndjson(response.text)
    assert events[0]["type"] == "final_answer_delta"
    assert events[-1] == {
        "type": "error",
        "data": {"message": error.message, "retryable": retryable},
    }


def test_agent_scratchpad_on_a_user_message_is_400():
    body = {
        "messages": [
            {
                "role": "user",
                "content": "q",
                "agent_scratchpad": [{"action": {"tool": "x"}, "observation": ""}],
            }
        ]
    }
    response = chat_client().post("/v2/chat/agent", json=body)
    assert response.status_code == 400 and "agent_scratchpad" in response.json()["detail"]


def test_agent_additional_context_needs_its_unit_primitive():
    body = {
        "messages": [
            {
                "role": "user",
                "content": "what does it do?",
                "additional_context": [{"category": "file", "id": "a.py", "content": "x = 1"}],
            }
        ]
    }
    denied = chat_client(scopes=("duo_chat",)).post("/v2/chat/agent", json=body)
    assert denied.status_code == 403
    assert denied.json() == {"detail": "Unauthorized to access include_file_context"}
    backend = ScriptedBackend(chunks=("Final Answer: ok",))
    client = chat_client(scopes=("duo_chat", "include_file_context"), backend=backend)
    assert client.post("/v2/chat/agent", json=body).status_code == 200
    assert '<file id="a.py">\nx = 1' in backend.requests[0].messages[-1].content


def test_agent_needs_duo_chat_and_rejects_bad_bodies():
    denied = chat_client(scopes=("include_file_context",)).post("/v2/chat/agent", json=AGENT)
    assert (denied.status_code, denied.json()) == (
        403,
        {"detail": "Unauthorized to access duo chat"},
    )
    client = chat_client()
    for body in (
        {"messages": []},
        {"messages": [{"role": "tool", "content": "x"}]},
        {
            "messages": [
                {"role": "user", "content": "x", "additional_context": [{"category": "nope"}]}
            ]
        },
    ):
        assert client.post("/v2/chat/agent", json=body).status_code == 422


def test_agent_plain_mock_answers_mock():
    events = ndjson(chat_client().post("/v2/chat/agent", json=AGENT).text)
    assert events[0] == {"type": "unknown", "data": {"text": "mock"}}


def test_agent_with_the_agentic_mock_script():
    script = "<response stream='true'>Thought: sure Final Answer: Hello from the script</response>"
    client = chat_client(settings={"use_agentic_mock": True})
    body = {"messages": [{"role": "user", "content": script}]}
    events = ndjson(client.post("/v2/chat/agent", json=body).text)
    text = "".join(e["data"]["text"] for e in events if e["type"] == "final_answer_delta")
    assert text == "Hello from the script"
    assert len([e for e in events if e["type"] == "final_answer_delta"]) >= 4  # word by word


def test_agentic_mock_tool_calls_become_actions_and_replay_advances():
    script = (
        "<response>Let me look<tool_calls>"
        '[{"name": "issue_reader", "args": {"iid": 3}}]</tool_calls></response>'
        "<response>Final Answer: Issue 3 is about login.</response>"
    )
    client = chat_client(settings={"use_agentic_mock": True})
    first = ndjson(
        client.post("/v2/chat/agent", json={"messages": [{"role": "user", "content": script}]}).text
    )
    assert first[0] == {
        "type": "action",
        "data": {"tool": "issue_reader", "tool_input": '{"iid": 3}', "thought": "Let me look"},
    }
    step = {
        "thought": "Let me look",
        "tool": "issue_reader",
        "tool_input": '{"iid": 3}',
        "observation": "login bug",
    }
    body = {
        "messages": [{"role": "user", "content": script}],
        "options": {"agent_scratchpad": {"agent_type": "react", "steps": [step]}},
    }
    second = ndjson(client.post("/v2/chat/agent", json=body).text)
    assert second[0]["data"]["text"] == "Issue 3 is about login."


def test_agentic_mock_replay_tells_same_named_tool_calls_apart_by_args():
    def turn(iid: int) -> str:
        calls = f'[{{"name": "issue_reader", "args": {{"iid": {iid}}}}}]'
        return f"<response>Reading<tool_calls>{calls}</tool_calls></response>"

    script = turn(1) + turn(2) + "<response>Final Answer: both read</response>"
    client = chat_client(settings={"use_agentic_mock": True})
    steps: list[dict] = []
    for expected in ('{"iid": 1}', '{"iid": 2}'):
        body = {
            "messages": [{"role": "user", "content": script}],
            "options": {"agent_scratchpad": {"agent_type": "react", "steps": steps}},
        }
        (action, _usage) = ndjson(client.post("/v2/chat/agent", json=body).text)
        assert action["data"]["tool_input"] == expected
        steps = [*steps, {**action["data"], "observation": "an issue"}]
    body["options"]["agent_scratchpad"]["steps"] = steps
    last = ndjson(client.post("/v2/chat/agent", json=body).text)
    assert last[0]["data"]["text"] == "both read"


def test_agentic_mock_streamed_tool_call_pieces_become_one_action():
    args = {"path": "notes.md", "content": "a long line of notes " * 20}
    calls = json.dumps([{"name": "create_file", "args": args}])
    script = f"<response stream='true'>Writing it<tool_calls>{calls}</tool_calls></response>"
    client = chat_client(settings={"use_agentic_mock": True})
    body = {"messages": [{"role": "user", "content": script}]}
    events = ndjson(client.post("/v2/chat/agent", json=body).text)
    assert events[0] == {
        "type": "action",
        "data": {"tool": "create_file", "tool_input": json.dumps(args), "thought": "Writing it"},
    }


def test_agentic_mock_script_error_is_an_error_event():
    client = chat_client(settings={"use_agentic_mock": True})
    body = {
        "messages": [
            {"role": "user", "content": "<response><tool_calls>{}</tool_calls></response>"}
        ]
    }
    events = ndjson(client.post("/v2/chat/agent", json=body).text)
    assert events == [
        {
            "type": "error",
            "data": {
                "message": "agentic mock: tool_calls must be a JSON array",
                "retryable": False,
            },
        }
    ]
