"""Streaming framings of the contract: raw text chunks (v2/v3) and SSE events (v4)."""

from __future__ import annotations

import json
from typing import Any

SSE_HEADERS = {"X-Streaming-Format": "sse", "Cache-Control": "no-cache"}


def sse_event(event: str, data: Any) -> str:
    """One SSE message the way sse-starlette writes it: `event:` first, CRLF line endings."""
    return f"event: {event}\r\ndata: {json.dumps(data)}\r\n\r\n"


def content_chunk(text: str) -> str:
    return sse_event("content_chunk", {"choices": [{"delta": {"content": text}, "index": 0}]})


def ndjson_line(obj: Any) -> str:
    return json.dumps(obj) + "\n"
