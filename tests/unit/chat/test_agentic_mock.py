"""The agentic mock's script grammar (API.md §4.3), attribute by attribute, error by error."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from core.errors import BadRequestError
from core.mock_models import FAKE_MODEL, agentic_target
from core.types import Chunk, Message, ModelRequest
from deployments.backends import agentic_mock as am
from deployments.backends.mock import MockBackend
from deployments.tool_calls import ToolCallAssembler


def user(text: str) -> list[Message]:
    return [Message(role="system", content="be nice"), Message(role="user", content=text)]


def turn(text: str, history: list[Message] | None = None) -> am.ScriptedTurn:
    return am.next_turn(am.parse_script(text), [*(history or []), *user(text)][-2:])


def test_no_response_tag_and_invalid_xml_and_exhausted_messages():
    assert turn("just a question").content == am.NO_RESPONSE_TAG
    assert turn("<response>unclosed").content == am.INVALID_XML
    assert turn("<response>a & b</response>").content == am.INVALID_XML
    assert turn("<!DOCTYPE x><response>hi</response>").content == am.INVALID_XML
    messages = [*user("<response>one</response>"), Message(role="assistant", content="one")]
    assert am.choose(messages).content == am.EXHAUSTED


def test_text_around_the_script_and_responses_wrapper_are_allowed():
    text = (
        "Please test this: <responses><response>first</response>\n"
        "<response>second</response></responses> thanks"
    )
    script = am.parse_script(text)
    assert [t.content for t in script.turns] == ["first", "second"]


def test_idempotent_replay_advances_one_turn_per_step():
    script = "<response>first</response><response>second</response>"
    history = user(script)
    assert am.choose(history).content == "first"
    history.append(Message(role="assistant", content="first"))
    assert am.choose(history).content == "second"
    # an older conversation's answers (before the last human message) do not count
    older = [Message(role="assistant", content="first"), *user(script)]
    assert am.choose(older).content == "first"


def replay(script: str, *replies: str) -> am.ScriptedTurn:
    return am.choose([*user(script), *(Message(role="assistant", content=r) for r in replies)])


def step(thought: str, tool: str, tool_input: str, observation: str = "seen") -> str:
    """One scratchpad step as `chat/react` renders it into the assistant message."""
    return (
        f"Thought: {thought}\nAction: {tool}\nAction Input: {tool_input}\n"
        f"Observation: {observation}\n"
    )


def test_replay_compares_whole_replies_not_substrings():
    script = "<response>I am looking at the file</response><response>looking</response>"
    assert replay(script, "I am looking at the file").content == "looking"
    assert replay(script, "I am looking at the file", "looking").content == am.EXHAUSTED
    # whitespace is compared the way a streamed turn re-joins its words
    script = "<response stream='true'>one  two\n three</response><response>next</response>"
    assert replay(script, "one two three").content == "next"


def test_replay_compares_tool_calls_by_name_and_args():
    def call(path: str) -> str:
        return f'<tool_calls>[{{"name": "read_file", "args": {{"path": "{path}"}}}}]</tool_calls>'

    script = f"<response>Reading{call('a.py')}</response><response>Reading{call('b.py')}</response>"
    played_a = step("Reading", "read_file", '{"path": "a.py"}')
    second = replay(script, played_a)
    assert [c.args for c in second.tool_calls] == [{"path": "b.py"}]
    played_b = step("Reading", "read_file", '{"path": "b.py"}')
    assert replay(script, played_a + played_b).content == am.EXHAUSTED
    # a turn with two calls went out as two actions (two steps with the turn's thought)
    two = (
        '<response>Both<tool_calls>[{"name": "ls", "args": {"dir": "a"}},'
        ' {"name": "ls", "args": {"dir": "b"}}]</tool_calls></response><response>done</response>'
    )
    steps = step("Both", "ls", '{"dir": "a"}') + step("Both", "ls", '{"dir": "b"}')
    assert replay(two, steps).content == "done"
    assert replay(two, step("Both", "ls", '{"dir": "a"}')).content == "Both"


def test_replay_of_a_react_text_turn_matches_its_scratchpad_step():
    script = (
        "<response>need it\nAction: issue_reader\nAction Input: #9</response>"
        "<response>Thought: ok\nFinal Answer: fixed</response>"
    )
    assert replay(script, step("need it", "issue_reader", "#9")).content.endswith("fixed")
    assert replay(script, step("need it", "issue_reader", "#10")).content.startswith("need")


def test_first_or_last_human_message():
    messages = [
        Message(role="user", content="<response>from first</response>"),
        Message(role="assistant", content="ok"),
        Message(role="user", content="<response>from last</response>"),
    ]
    assert am.choose(messages).content == "from last"
    assert am.choose(messages, use_last_human_message=False).content == "from first"


def test_tool_calls_are_parsed_numbered_and_removed_from_content():
    text = (
        "<response>Looking it up<tool_calls>"
        '[{"name": "read_file", "args": {"path": "a.py"}}, {"name": "ls"}]'
        "</tool_calls></response>"
    )
    t = turn(text)
    assert t.content == "Looking it up"
    assert [(c.id, c.name, c.args) for c in t.tool_calls] == [
        ("call_1", "read_file", {"path": "a.py"}),
        ("call_2", "ls", {}),
    ]


@pytest.mark.parametrize(
    ("calls", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"name": "x"}', "JSON array"),
        ('[{"args": {}}]', "needs a name"),
        ('[{"name": "x", "args": [1]}]', "JSON object"),
    ],
)
def test_bad_tool_calls_are_a_clear_400(calls, message):
    with pytest.raises(BadRequestError, match=message):
        am.parse_script(f"<response><tool_calls>{calls}</tool_calls></response>")


def test_attributes():
    t = turn("<response latency_ms='250' stream='true' chunk_delay_ms='20'>a  b\nc</response>")
    assert (t.latency_ms, t.stream, t.chunk_delay_ms) == (250, True, 20)
    assert t.pieces() == ["a", " b", " c"]
    assert turn("<response>x</response>").stream is False
    assert turn("<response latency_ms='999999999'>x</response>").latency_ms == am.MAX_DELAY_MS
    with pytest.raises(BadRequestError, match="latency_ms must be an integer"):
        am.parse_script("<response latency_ms='soon'>x</response>")
    with pytest.raises(BadRequestError, match="must not be negative"):
        am.parse_script("<response chunk_delay_ms='-1'>x</response>")


def test_file_responses_with_set_variables(tmp_path):
    path = tmp_path / "answer.txt"
    path.write_text("Hello {{ who }}, {{ items | join(',') }}\n")
    text = (
        "{% set who = 'team' %}{% set items = ['a', 'b'] %}"
        f"<response file='{path}'/><response>inline {{{{ who }}}}</response>"
    )
    script = am.parse_script(text)
    assert script.variables == {"who": "team", "items": ["a", "b"]}
    assert script.turns[0].content == "Hello team, a,b"
    assert script.turns[1].content == "inline {{ who }}"  # only file responses are templates


def test_missing_file_and_broken_set_are_clear_errors(tmp_path):
    with pytest.raises(BadRequestError, match="cannot read response file"):
        am.parse_script(f"<response file='{tmp_path / 'nope.txt'}'/>")
    with pytest.raises(BadRequestError, match="cannot read response file"):
        am.parse_script(f"<response file='{tmp_path}'/>")  # a folder
    big = tmp_path / "big.txt"
    big.write_text("x" * (am.MAX_FILE_BYTES + 1))
    with pytest.raises(BadRequestError, match="cannot read response file"):
        am.parse_script(f"<response file='{big}'/>")
    with pytest.raises(BadRequestError, match="invalid set statement"):
        am.parse_script("{% set x = %}<response>x</response>")


def test_additional_context_block_is_ignored():
    text = (
        "User added additional context below.\n<additional_context><response>not me"
        "</response></additional_context>\n<response>me</response>"
    )
    assert turn(text).content == "me"


def test_sandbox_refuses_unsafe_set_statements():
    with pytest.raises(BadRequestError):
        am.parse_script("{% set x = ''.__class__.__mro__ %}<response>x</response>")


def request_for(text: str, target=None, stream: bool = False) -> ModelRequest:
    return ModelRequest(
        target=target or agentic_target(), kind="chat", messages=user(text), stream=stream
    )


def test_backend_streams_word_by_word_with_delays_and_tool_calls_last():
    script = (
        "<response stream='true' chunk_delay_ms='30' latency_ms='50'>one two three"
        '<tool_calls>[{"name": "t"}]</tool_calls></response>'
    )

    async def run() -> list:
        return [c async for c in MockBackend().stream(request_for(script, stream=True))]

    started = time.perf_counter()
    chunks = asyncio.run(run())
    elapsed = time.perf_counter() - started
    assert [c.text for c in chunks] == ["one", " two", " three", "", ""]
    assert [(p.index, p.id, p.name, p.args) for p in chunks[3].tool_call_chunks] == [
        (0, "call_1", "t", "{}")
    ]
    assert chunks[-1].final and not chunks[-1].tool_calls
    assert elapsed >= 0.05 + 3 * 0.03


def stream_of(request: ModelRequest) -> list[Chunk]:
    async def run() -> list[Chunk]:
        return [c async for c in MockBackend().stream(request)]

    return asyncio.run(run())


def test_streamed_tool_calls_come_as_100_char_json_pieces_that_reassemble():
    calls = [
        {"name": "create_file", "args": {"path": "a.py", "content": "x = 1\n" * 60}},
        {"name": "ls"},
        {"name": "grep", "args": {"pattern": 'é"', "n": [1, 2]}},
    ]
    script = (
        f"<response stream='true'>Writing it<tool_calls>{json.dumps(calls)}</tool_calls></response>"
    )
    request = request_for(script, stream=True)
    chunks = stream_of(request)
    pieces = [p for c in chunks for p in c.tool_call_chunks]
    assert len(pieces) > len(calls)  # the long args went out in several pieces
    assert all(0 < len(p.args) <= 100 for p in pieces)
    assert [p.name for p in pieces if p.id] == ["create_file", "ls", "grep"]  # first piece
    assert all(len(c.tool_call_chunks) <= 1 for c in chunks)
    assembler = ToolCallAssembler()
    for chunk in chunks:
        assembler.add(chunk)
    whole = asyncio.run(MockBackend().generate(request_for(script)))
    assert assembler.calls() == whole.tool_calls
    assert "".join(c.text for c in chunks) == whole.text


def test_unstreamed_turn_keeps_whole_tool_calls_in_the_final_chunk():
    script = '<response>hi<tool_calls>[{"name": "t", "args": {"a": 1}}]</tool_calls></response>'
    chunks = stream_of(request_for(script, stream=True))
    assert [c.text for c in chunks] == ["hi", ""]
    assembler = ToolCallAssembler()
    for chunk in chunks:
        assembler.add(chunk)
    assert [(c.id, c.name, c.args) for c in assembler.calls()] == [("call_1", "t", {"a": 1})]


def test_backend_generate_and_the_plain_fake_model():
    result = asyncio.run(MockBackend().generate(request_for("<response>hi</response>")))
    assert result.text == "hi"
    fake = asyncio.run(MockBackend().generate(request_for("anything", target=FAKE_MODEL)))
    assert fake.text == "mock"
