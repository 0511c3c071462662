"""How the contract's bodies and frames are written: JSON bodies from response models, SSE
events (v4) and NDJSON lines (chat agent, prompts v2). Raw text chunks (v2/v3) need none."""

from __future__ import annotations

import json
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii
from typing import Any

from pydantic import BaseModel
from starlette.responses import Response

SSE_HEADERS = {"X-Streaming-Format": "sse", "Cache-Control": "no-cache"}


class ModelJSONResponse(Response):
    """A response model written by pydantic-core straight to bytes: no FastAPI
    `response_model` (it would validate again a body we have just built), no dict through
    json.dumps. The bytes are JSONResponse's: compact, UTF-8, non-ASCII written as is."""

    media_type = "application/json"

    def __init__(
        self, body: BaseModel, status_code: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(body.__pydantic_serializer__.to_json(body), status_code, headers)


def _jsonable(data: Any) -> Any:
    """A model as the dict json.dumps takes (what `model_dump()` gives, a call shorter)."""
    if isinstance(data, BaseModel):
        return data.__pydantic_serializer__.to_python(data)
    return data


def sse_event(event: str, data: Any) -> str:
    """One SSE message the way sse-starlette writes it: `event:` first, CRLF line endings, the
    data as json.dumps writes it (`", "`, `": "`, non-ASCII escaped). `data`: a model or JSON."""
    return f"event: {event}\r\ndata: {json.dumps(_jsonable(data))}\r\n\r\n"


# A stream sends one content_chunk per model token: only the text is encoded per chunk, into
# the bytes json.dumps gives for {"choices": [{"delta": {"content": text}, "index": 0}]}.
_CHUNK_HEAD = 'event: content_chunk\r\ndata: {"choices": [{"delta": {"content": '
_CHUNK_TAIL = '}, "index": 0}]}\r\n\r\n'


def content_chunk(text: str) -> str:
    # What json.dumps(text) returns for a str, without its two Python frames per token.
    return _CHUNK_HEAD + encode_basestring_ascii(text) + _CHUNK_TAIL


def ndjson_line(obj: Any) -> str:
    """One JSON object and a newline, as json.dumps writes it. `obj`: a model or JSON."""
    return json.dumps(_jsonable(obj)) + "\n"
