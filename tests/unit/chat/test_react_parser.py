"""The ReAct output parser, fed the way a model streams: arbitrary chunk boundaries."""

from __future__ import annotations

import pytest

from deployments.chat.react import AgentEvent, ReActStreamParser, parse_complete

ANSWER = "Thought: I know this.\nFinal Answer: Use `git rebase -i`, then squash."
ACTION = (
    "Thought: I need the issue first.\nAction: issue_reader\n"
    'Action Input: {"iid": 42}\nObservation:'
)


def feed_in_pieces(text: str, size: int) -> tuple[list[tuple[int, AgentEvent]], int]:
    """Events with the index of the chunk that produced them (len(chunks) = at finish)."""
    parser = ReActStreamParser()
    chunks = [text[i : i + size] for i in range(0, len(text), size)]
    events: list[tuple[int, AgentEvent]] = []
    for index, chunk in enumerate(chunks):
        events += [(index, event) for event in parser.feed(chunk)]
    events += [(len(chunks), event) for event in parser.finish()]
    return events, len(chunks)


def answer_text(events: list[AgentEvent]) -> str:
    return "".join(e.data["text"] for e in events if e.type == "final_answer_delta")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13, 1000])
def test_final_answer_is_the_same_whatever_the_chunking(size):
    events, _ = feed_in_pieces(ANSWER, size)
    kinds = {e.type for _, e in events}
    assert kinds == {"final_answer_delta"}
    assert answer_text([e for _, e in events]) == "Use `git rebase -i`, then squash."
    assert events[-1][1].data == {"text": "", "finish_reason": "stop"}


def test_marker_split_across_chunks_is_found_when_completed():
    parser = ReActStreamParser()
    assert list(parser.feed("Thought: ok\nFinal An")) == []
    assert list(parser.feed("swer:")) == []  # only the marker: nothing to say yet
    first = list(parser.feed(" Hel"))
    assert [e.data["text"] for e in first] == ["Hel"]
    assert [e.data["text"] for e in parser.feed("lo")] == ["lo"]


def test_first_delta_goes_out_before_the_model_finishes():
    events, chunk_count = feed_in_pieces(ANSWER, 4)
    first_index = next(i for i, e in events if e.type == "final_answer_delta")
    assert first_index < chunk_count - 1


def test_thought_text_never_leaks_into_the_answer():
    events = parse_complete("Thought: secret reasoning\nFinal Answer: 42")
    assert answer_text(events) == "42"


@pytest.mark.parametrize("size", [1, 3, 8, 1000])
def test_action_with_thought_and_input(size):
    events, _ = feed_in_pieces(ACTION, size)
    assert [e.as_json() for _, e in events] == [
        {
            "type": "action",
            "data": {
                "tool": "issue_reader",
                "tool_input": '{"iid": 42}',
                "thought": "I need the issue first.",
            },
        }
    ]


def test_action_without_observation_stop_and_multiline_input():
    text = "Action: gitlab_documentation\nAction Input: how do I\nset up runners?"
    (event,) = parse_complete(text)
    assert event.type == "action"
    assert event.data["tool_input"] == "how do I\nset up runners?"
    assert event.data["thought"] == ""


def test_final_answer_wins_over_an_action():
    text = "Action: foo\nAction Input: bar\nFinal Answer: done"
    events = parse_complete(text)
    assert {e.type for e in events} == {"final_answer_delta"}
    assert answer_text(events) == "done"


@pytest.mark.parametrize(
    "text",
    [
        "I am just chatting without any format.",
        "Thought: hmm\nAction: \nAction Input: x",  # no tool name
        "Thought: only a thought",
        "Action: tool_without_input",
    ],
)
def test_malformed_output_is_unknown_with_the_text(text):
    (event,) = parse_complete(text)
    assert event.type == "unknown"
    assert event.data == {"text": text.strip()}


def test_feed_after_finish_is_an_error():
    parser = ReActStreamParser()
    list(parser.finish())
    with pytest.raises(RuntimeError):
        list(parser.feed("x"))


def test_action_on_one_line_as_the_word_streaming_mock_sends_it():
    (event,) = parse_complete("Thought: look Action: issue_reader Action Input: #42")
    assert event.data == {"tool": "issue_reader", "tool_input": "#42", "thought": "look"}


def test_a_final_answer_prefill_primes_the_parser():
    parser = ReActStreamParser()
    parser.prime("Final Answer:")
    events = [*parser.feed(" Hello"), *parser.feed(" there"), *parser.finish()]
    assert answer_text(events) == "Hello there"
