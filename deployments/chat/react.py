"""Incremental parser of the ReAct text format (`Thought:` / `Action:` / `Action Input:` /
`Final Answer:`) that `chat/react` asks the model to answer in.

Fed the model's text chunk by chunk, it yields events as soon as they are known: every piece
of a final answer goes out the moment it arrives (markers split across chunks are found
because the search runs over everything received so far); an action is complete only when
the model stops (or writes `Observation:`), so it comes out at the end; anything else is
`unknown`. A final answer wins over an action, as in the upstream parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

FINAL_ANSWER = "Final Answer:"
ACTION = "Action:"
ACTION_INPUT = "Action Input:"
THOUGHT = "Thought:"
OBSERVATION = "Observation:"

_ACTION_RE = re.compile(
    r"Action\s*:[ \t]*(?P<tool>[^\n]*?)\s*Action\s+Input\s*:[ \t]*(?P<input>.*?)"
    r"(?:\s*Observation\s*:|\Z)",
    re.DOTALL,
)
_THOUGHT_RE = re.compile(r"Thought\s*:\s*(?P<thought>.*?)\s*(?=Action\s*:|\Z)", re.DOTALL)

EventType = Literal["final_answer_delta", "action", "unknown", "error", "usage"]


@dataclass(frozen=True, slots=True)
class AgentEvent:
    """One line of the `/v2/chat/agent` NDJSON stream."""

    type: EventType
    data: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"type": self.type, "data": self.data}


def final_answer_delta(text: str, finish_reason: str | None = None) -> AgentEvent:
    return AgentEvent("final_answer_delta", {"text": text, "finish_reason": finish_reason})


def action(tool: str, tool_input: str, thought: str) -> AgentEvent:
    return AgentEvent("action", {"tool": tool, "tool_input": tool_input, "thought": thought})


def unknown(text: str) -> AgentEvent:
    return AgentEvent("unknown", {"text": text})


def error(message: str, retryable: bool) -> AgentEvent:
    return AgentEvent("error", {"message": message, "retryable": retryable})


def usage(model: str, input_tokens: int, output_tokens: int) -> AgentEvent:
    counts = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    return AgentEvent("usage", {"usage": {model: counts}})


class ReActStreamParser:
    """Feed chunks with `feed`, then call `finish` once; both yield `AgentEvent`s."""

    def __init__(self) -> None:
        self._text = ""
        self._answer_from: int | None = None  # index in _text where the final answer starts
        self._sent = 0  # how much of the final answer has gone out
        self._finished = False

    @property
    def text(self) -> str:
        """Everything the model said so far."""
        return self._text

    @property
    def answering(self) -> bool:
        return self._answer_from is not None

    def prime(self, prefill: str) -> None:
        """Start from the prompt's assistant prefill when it ends in `Final Answer:` (the
        model then writes only the answer)."""
        if prefill.rstrip().endswith(FINAL_ANSWER) and not self._text:
            self._text = FINAL_ANSWER
            self._answer_from = len(FINAL_ANSWER)

    def feed(self, chunk: str) -> Iterator[AgentEvent]:
        if self._finished:
            raise RuntimeError("feed() after finish()")
        if not chunk:
            return
        self._text += chunk
        if self._answer_from is None:
            at = self._text.find(FINAL_ANSWER)
            if at < 0:
                return
            self._answer_from = at + len(FINAL_ANSWER)
        yield from self._answer_delta(final=False)

    def finish(self) -> Iterator[AgentEvent]:
        """The model stopped: close the final answer, or say what it did instead."""
        if self._finished:
            return
        self._finished = True
        if self._answer_from is not None:
            yield from self._answer_delta(final=True)
            yield final_answer_delta("", "stop")
            return
        parsed = parse_action(self._text)
        if parsed is not None:
            yield parsed
        else:
            yield unknown(self._text.strip())

    def _answer_delta(self, final: bool) -> Iterator[AgentEvent]:
        assert self._answer_from is not None
        answer = self._text[self._answer_from :]
        if self._sent == 0:
            stripped = answer.lstrip()
            if not stripped:  # only the space after the marker so far: wait for words
                return
            self._answer_from += len(answer) - len(stripped)
            answer = stripped
        if final:
            answer = answer.rstrip()
        delta = answer[self._sent :]
        if delta:
            self._sent += len(delta)
            yield final_answer_delta(delta)


def parse_action(text: str) -> AgentEvent | None:
    """`Action:` + `Action Input:` (with the `Thought:` before them) as an action event."""
    match = _ACTION_RE.search(text)
    if match is None:
        return None
    tool = match.group("tool").strip()
    if not tool:
        return None
    tool_input = match.group("input").strip()
    head = text[: match.start()]
    thought_match = _THOUGHT_RE.search(head)
    thought = thought_match.group("thought").strip() if thought_match else head.strip()
    return action(tool, tool_input, thought)


def parse_complete(text: str) -> list[AgentEvent]:
    """The events of a whole answer at once (the non-streamed model call)."""
    parser = ReActStreamParser()
    return [*parser.feed(text), *parser.finish()]
