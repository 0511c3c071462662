"""Tool calls in a stream of chunks: cut into JSON pieces, and put back together."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from core.errors import ModelError
from core.types import Chunk, ToolCall, ToolCallChunk

PIECE_CHARS = 100  # API.md §4.3: the agentic mock streams tool calls as ~100-char JSON chunks


def tool_call_pieces(calls: Sequence[ToolCall], size: int = PIECE_CHARS) -> Iterator[ToolCallChunk]:
    """Each call's args as JSON, `size` characters a piece; the first piece has id and name."""
    for index, call in enumerate(calls):
        text = json.dumps(call.args)
        for start in range(0, len(text), size):
            head = start == 0
            yield ToolCallChunk(
                index=index,
                args=text[start : start + size],
                id=call.id if head else "",
                name=call.name if head else "",
            )


class ToolCallAssembler:
    """Collects a stream's tool calls: whole ones as they come, pieced ones by index."""

    def __init__(self) -> None:
        self._whole: list[ToolCall] = []
        self._pieces: dict[int, tuple[str, str, list[str]]] = {}

    def add(self, chunk: Chunk) -> None:
        self._whole += chunk.tool_calls
        for piece in chunk.tool_call_chunks:
            call_id, name, args = self._pieces.get(piece.index, ("", "", []))
            args.append(piece.args)
            self._pieces[piece.index] = (call_id or piece.id, name or piece.name, args)

    def calls(self) -> list[ToolCall]:
        calls = list(self._whole)
        for index in sorted(self._pieces):
            call_id, name, args = self._pieces[index]
            text = "".join(args) or "{}"
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                raise ModelError(f"tool call {name!r} arguments are not valid JSON") from None
            if not isinstance(parsed, dict):
                raise ModelError(f"tool call {name!r} arguments are not a JSON object")
            calls.append(ToolCall(id=call_id, name=name, args=parsed))
        return calls
