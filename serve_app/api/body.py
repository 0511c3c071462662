"""How JSON request bodies are read: with less memory than Starlette's default.

A body may be 50 MB (API.md §1.3: 100 context items of 500,000 characters). Starlette's
`Request.json()` hands the bytes to `json.loads`, which first decodes them into a str as big
as the body, then parses: the bytes (FastAPI keeps them for the whole request), that copy and
the parsed strings are alive together, three times the body. orjson parses the bytes as they
are. Any body orjson refuses goes to `json.loads` as before, so what is accepted, and the 422
for what is not, stay exactly the standard library's (NaN, lone surrogates, ...).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response


class LeanJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = orjson.loads(body)
            except orjson.JSONDecodeError:
                self._json = json.loads(body)
        return self._json


class LeanJsonRoute(APIRoute):
    """A route whose handler reads its JSON body through `LeanJsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def lean(request: Request) -> Response:
            return await handler(LeanJsonRequest(request.scope, request.receive))

        return lean
