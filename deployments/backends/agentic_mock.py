"""The agentic mock (API.md §4.3): replays `<response>` scripts written in the user's input.

Plain functions over the request's messages, so they are tested without a backend. The
MockBackend applies them when the target says `mock: agentic`.
"""

from __future__ import annotations

import functools
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from core.errors import BadRequestError
from core.types import Message, ToolCall
from deployments.chat import react

INVALID_XML = "mock response (invalid xml)"
NO_RESPONSE_TAG = "mock response (no response tag specified)"
EXHAUSTED = "mock response (all scripted responses exhausted)"
MAX_DELAY_MS = 60_000  # a script cannot park a request for longer than this

_ADDITIONAL_CONTEXT = re.compile(
    r"User added additional context.*?<additional_context>.*?</additional_context>\s*", re.DOTALL
)
_JINJA_STATEMENT = re.compile(r"{%.*?%}", re.DOTALL)
_SET_STATEMENT = re.compile(r"{%-?\s*set\s.*?-?%}", re.DOTALL)
_SCRIPT_START = re.compile(r"<responses?\b")
_SCRIPT_END = re.compile(r"</responses?\s*>|<response\b[^>]*/>")
_DANGEROUS = ("<!DOCTYPE", "<!ENTITY")

_jinja = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


@dataclass(frozen=True, slots=True)
class ScriptedTurn:
    """One scripted model turn."""

    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    latency_ms: int = 0
    stream: bool = False
    chunk_delay_ms: int = 0

    def pieces(self) -> list[str]:
        """Streamed content: word by word, re-joined with single spaces (as upstream)."""
        words = self.content.split()
        return [word if i == 0 else f" {word}" for i, word in enumerate(words)]


@dataclass(frozen=True, slots=True)
class Script:
    turns: tuple[ScriptedTurn, ...] = ()
    fallback: str = ""  # the fixed answer when there is no usable script
    variables: dict[str, Any] = field(default_factory=dict)


def script_text(messages: Sequence[Message], use_last_human_message: bool = True) -> str:
    """The human message the script is read from (the last one by default)."""
    human = [m.content for m in messages if m.role == "user"]
    if not human:
        return ""
    return human[-1] if use_last_human_message else human[0]


def set_variables(text: str) -> dict[str, Any]:
    """The values of `{% set name = value %}` statements (evaluated in Jinja's sandbox)."""
    statements = "".join(_SET_STATEMENT.findall(text))
    if not statements:
        return {}
    try:
        module = _jinja.from_string(statements).module
    except jinja2.TemplateError as exc:
        raise BadRequestError(f"agentic mock: invalid set statement: {exc}") from None
    return {name: getattr(module, name) for name in dir(module) if not name.startswith("_")}


def parse_script(text: str) -> Script:
    """The turns scripted in `text`, or the fallback answer that says why there are none."""
    text = _ADDITIONAL_CONTEXT.sub("", text)
    if "<response" not in text:
        return Script(fallback=NO_RESPONSE_TAG)
    variables = set_variables(text)
    text = _JINJA_STATEMENT.sub("", text)
    if any(marker in text for marker in _DANGEROUS):
        return Script(fallback=INVALID_XML)
    start = _SCRIPT_START.search(text)
    ends = list(_SCRIPT_END.finditer(text))
    if start is None or not ends:
        return Script(fallback=INVALID_XML)
    try:
        root = ET.fromstring(f"<root>{text[start.start() : ends[-1].end()]}</root>")
    except ET.ParseError:
        return Script(fallback=INVALID_XML)
    turns = tuple(_turn(element, variables) for element in root.iter("response"))
    if not turns:
        return Script(fallback=NO_RESPONSE_TAG)
    return Script(turns=turns, variables=variables)


def _turn(element: ET.Element, variables: dict[str, Any]) -> ScriptedTurn:
    tool_calls: list[ToolCall] = []
    parts = [element.text or ""]
    for child in element:
        if child.tag == "tool_calls":
            tool_calls += _tool_calls(child.text or "", start=len(tool_calls) + 1)
        else:
            parts.append("".join(child.itertext()))
        parts.append(child.tail or "")
    content = "".join(parts).strip()
    path = element.get("file")
    if path:
        content = _render_file(path, variables)
    return ScriptedTurn(
        content=content,
        tool_calls=tuple(tool_calls),
        latency_ms=_millis(element, "latency_ms"),
        stream=element.get("stream", "false").strip().lower() == "true",
        chunk_delay_ms=_millis(element, "chunk_delay_ms"),
    )


def _millis(element: ET.Element, name: str) -> int:
    raw = element.get(name)
    if raw is None:
        return 0
    try:
        value = int(raw.strip())
    except ValueError:
        raise BadRequestError(f"agentic mock: {name} must be an integer, got {raw!r}") from None
    if value < 0:
        raise BadRequestError(f"agentic mock: {name} must not be negative")
    return min(value, MAX_DELAY_MS)


def _tool_calls(raw: str, start: int) -> list[ToolCall]:
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadRequestError(f"agentic mock: tool_calls is not valid JSON: {exc.msg}") from None
    if not isinstance(parsed, list):
        raise BadRequestError("agentic mock: tool_calls must be a JSON array")
    calls = []
    for offset, item in enumerate(parsed):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise BadRequestError("agentic mock: every tool call needs a name")
        args = item.get("args", {})
        if not isinstance(args, dict):
            raise BadRequestError("agentic mock: tool call args must be a JSON object")
        calls.append(ToolCall(id=f"call_{start + offset}", name=item["name"], args=args))
    return calls


MAX_FILE_BYTES = 1_000_000


@functools.lru_cache(maxsize=64)
def _read_file(path: str) -> str:
    """A response file, read once per process (only regular files, at most 1 MB)."""
    file = Path(path)
    if not file.is_file() or file.stat().st_size > MAX_FILE_BYTES:
        raise OSError(f"{path} is not a regular file of at most {MAX_FILE_BYTES} bytes")
    return file.read_text(encoding="utf-8")


def _render_file(path: str, variables: dict[str, Any]) -> str:
    try:
        source = _read_file(path)
    except (OSError, UnicodeDecodeError):
        raise BadRequestError(f"agentic mock: cannot read response file {path!r}") from None
    try:
        return _jinja.from_string(source).render(**variables).strip()
    except jinja2.TemplateError as exc:
        raise BadRequestError(f"agentic mock: response file {path!r}: {exc}") from None


# A played reply as the replay compares it: (content with whitespace normalised, the tool
# calls as (name, canonical JSON of args)). Tool call ids are generated, so they don't count.
Played = tuple[str, tuple[tuple[str, str], ...]]

# One scratchpad step as `chat/react` renders the steps taken into the assistant message.
_STEP = re.compile(
    r"Thought:(?P<thought>.*?)\nAction:(?P<tool>.*?)\nAction Input:(?P<input>.*?)\nObservation:",
    re.DOTALL,
)


def _normalise(text: str) -> str:
    """Whitespace as a streamed turn re-joins its words (`ScriptedTurn.pieces`)."""
    return " ".join(text.split())


def _call_key(name: str, args: dict[str, Any]) -> tuple[str, str]:
    return name.strip(), json.dumps(args, sort_keys=True)


def _react_text(thought: str, tool: str, tool_input: str) -> str:
    return _normalise(f"Thought: {thought} Action: {tool} Action Input: {tool_input}")


def _turn_forms(turn: ScriptedTurn) -> set[Played]:
    """What this turn looks like once played: its (content, tool calls), and for a turn
    written as ReAct text, the action the agent parsed from it as a scratchpad step."""
    calls = tuple(_call_key(c.name, c.args) for c in turn.tool_calls)
    forms: set[Played] = {(_normalise(turn.content), calls)}
    if not calls:
        parsed = react.parse_action(turn.content)
        if parsed is not None:
            data = parsed.data
            forms.add((_react_text(data["thought"], data["tool"], data["tool_input"]), ()))
    return forms


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _reply_forms(reply: str) -> set[Played]:
    """The played turns an AI message holds: the message itself (text, no tool calls; our
    messages carry none), and each ReAct step of a rendered scratchpad, as text and, where
    its input is a JSON object, as tool calls. A turn with n tool calls went out as n actions
    with the turn's content as their thought, so every run of steps with one thought counts."""
    forms: set[Played] = {(_normalise(reply), ())}
    steps = []
    for match in _STEP.finditer(reply):
        thought, tool, tool_input = (match[name].strip() for name in ("thought", "tool", "input"))
        forms.add((_react_text(thought, tool, tool_input), ()))
        steps.append((_normalise(thought), tool, _json_object(tool_input)))
    for start, (thought, _, _) in enumerate(steps):
        calls: list[tuple[str, str]] = []
        for other, tool, args in steps[start:]:
            if other != thought or args is None:
                break
            calls.append(_call_key(tool, args))
            forms.add((thought, tuple(calls)))
    return forms


def next_turn(script: Script, messages: Sequence[Message]) -> ScriptedTurn:
    """The first scripted turn not yet answered since the last human message (idempotent
    replay: each step of a conversation advances one turn), or the fixed fallback. A turn
    counts as answered when an AI message after the last human one holds exactly its
    (content, tool calls); one that is only part of a reply is not."""
    if not script.turns:
        return ScriptedTurn(content=script.fallback)
    last_human = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    played: set[Played] = set()
    for message in messages[last_human + 1 :]:
        if message.role == "assistant":
            played |= _reply_forms(message.content)
    for turn in script.turns:
        if not (turn.content or turn.tool_calls) or not _turn_forms(turn) & played:
            return turn
    return ScriptedTurn(content=EXHAUSTED)


def choose(messages: Sequence[Message], use_last_human_message: bool = True) -> ScriptedTurn:
    return next_turn(parse_script(script_text(messages, use_last_human_message)), messages)
