"""Streaming framings of the contract: raw text chunks (v2/v3) and SSE events (v4)."""

from __future__ import annotations

import json
from typing import Any

SSE_HEADERS = {"X-Streaming-Format": "sse", "Cache-Control": "no-cache"}


def sse_event(event: str, data: Any) -> str:
    """One SSE message the way sse-starlette writes it: `event:` first, CRLF line endings."""
    return f"event: {event}\r\ndata: {json.dumps(data)}\r\n\r\n"


# A stream sends one content_chunk per model token: only the text is encoded per chunk, into
# the bytes json.dumps gives for {"choices": [{"delta": {"content": text}, "index": 0}]}.
_CHUNK_HEAD = 'event: content_chunk\r\ndata: {"choices": [{"delta": {"content": '
_CHUNK_TAIL = '}, "index": 0}]}\r\n\r\n'


def content_chunk(text: str) -> str:
    return _CHUNK_HEAD + json.dumps(text) + _CHUNK_TAIL


def ndjson_line(obj: Any) -> str:
    return json.dumps(obj) + "\n"
