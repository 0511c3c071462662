"""How JSON request bodies are read: with a third less memory than FastAPI's default.

A body may be 52 MB (API.md §1.3: 100 context items of 500,000 characters). FastAPI reads the
bytes (keeping them for the whole request), and `json.loads` decodes them into a str as big as
the body before it parses: bytes, str and the parsed strings are alive together, three times
the body (+146 MB RSS measured). Here the body is gathered, decoded and dropped before the parse,
so at most two of them are alive at a time.

A body over 256 KiB is parsed and validated on a worker thread, in steps short enough that the
event loop gets the interpreter between them: `json.loads` is one C call that holds the GIL
for all of a 52 MB body (140-400 ms: every small request beside it waited that out), and so is
decoding it whole, joining its decoded pieces (100-150 ms) or pydantic validating it (10-30 ms).
`json_bytes` parses the bytes one string at a time instead (a few milliseconds per step at
most), and the route's body model is validated on the same thread: FastAPI then gets the
validated model, which it takes as it is. At most `AIGW_LIMITS__BIG_BODY_PARSES` such bodies
(default 2) are parsed at once per replica, each on its own thread; more wait their turn
without holding the event loop, so small requests beside them are served as before. A body of
many small tokens would parse ~10x slower in Python: after 200,000 of them the C parser takes
over.

What is accepted, and the error for what is not, stay FastAPI's: only what FastAPI would parse
as JSON in UTF-8 (`json.detect_encoding`) takes this path, a body that does not decode is the
same 400, and one that does not parse goes back to FastAPI as bytes for its own 422.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import email.message
import functools
import inspect
import json
import json.scanner
import typing
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import fastapi.routing
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from serve_app.api import json_bytes

PARSE_ERROR = "There was an error parsing the body"  # FastAPI's own 400
INLINE_PARSE_MAX_BYTES = 256 * 1024
STEPPED_MAX_TOKENS = 200_000
DECODE_STEP_BYTES = 1024 * 1024
_UNDECODABLE = object()
_NOT_PARSED = object()


class ParsedBody(bytes):
    """Stands for a body already parsed (`request.json()` holds it): FastAPI only asks whether
    there was one before it calls `json()`."""


@functools.lru_cache(maxsize=256)  # clients send one or two distinct values
def _json_content_type(value: str | None) -> bool:
    """Whether FastAPI (with `strict_content_type=False`) would parse the body as JSON."""
    if not value:
        return True
    message = email.message.Message()
    message["content-type"] = value
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


Validate = Callable[[Any], tuple[Any, list[Any]]]


class BigBodies:
    """How many big bodies a replica parses at once. One semaphore per event loop (a replica
    has one; tests make a loop per client), created on first use."""

    def __init__(self, at_once: int) -> None:
        self.at_once = at_once
        self._slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    def slot(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            for old in [old for old in self._slots if old.is_closed()]:
                del self._slots[old]
            slots = self._slots[loop] = asyncio.Semaphore(self.at_once)
        return slots


class LeanJsonRequest(Request):
    async def parse_json_first(
        self, validate: Validate | None = None, big: BigBodies | None = None
    ) -> None:
        """Read and parse the body now, holding one copy of its text at a time; a big one
        on a worker thread, validated there by `validate` when the route gives one."""
        buf = bytearray()
        try:
            async for chunk in self.stream():
                buf += chunk
        except ClientDisconnect:
            raise HTTPException(400, PARSE_ERROR) from None
        if not buf or json.detect_encoding(bytes(buf[:4])) != "utf-8":
            self._body = bytes(buf)  # empty, or UTF-16/32, or a BOM: FastAPI's own way
            return
        errors: list[Any] = []
        if len(buf) > INLINE_PARSE_MAX_BYTES:
            async with big.slot() if big else contextlib.nullcontext():
                parsed, failed, errors = await asyncio.to_thread(_parse_big, buf, validate)
        else:
            parsed, failed = _parse(buf, False)
        if parsed is _UNDECODABLE:
            raise HTTPException(400, PARSE_ERROR)
        if failed is not None:
            self._body = failed  # FastAPI parses it again and answers its own 422
            return
        if errors:
            raise RequestValidationError(errors)  # as FastAPI's would, without the body
        self._json = parsed
        self._body = ParsedBody(b"{}")

    def parsed(self) -> Any:
        """The JSON (or the model validated with it) `parse_json_first` kept; `_NOT_PARSED`
        when it left the body to FastAPI."""
        return self._json if isinstance(getattr(self, "_body", None), ParsedBody) else _NOT_PARSED


def _parse_big(buf: bytearray, validate: Validate | None) -> tuple[Any, bytes | None, list[Any]]:
    """On a worker thread: the body's JSON, validated by `validate` when given (the model
    then stands for the JSON), or `_parse`'s answers."""
    try:
        parsed = json_bytes.loads(buf, STEPPED_MAX_TOKENS)
    except UnicodeDecodeError:
        return _UNDECODABLE, None, []
    except json_bytes.NotParsed:
        parsed, failed = _parse(buf, True)  # json.loads says why, or parses a dense body
        if parsed is _UNDECODABLE or failed is not None:
            return parsed, failed, []
    buf.clear()
    if validate is None:
        return parsed, None, []
    model, errors = validate(parsed)
    return (None, None, errors) if errors else (model, None, [])


def _parse(buf: bytearray, stepped: bool) -> tuple[Any, bytes | None]:
    """The body's JSON (`_UNDECODABLE` when it is not UTF-8), or the bytes of a body that
    does not parse. `buf` is emptied once decoded: only the text and what it parses into are
    alive together. `stepped`: in steps that let other threads run (see the module's doc)."""
    try:
        text = _decode(buf, stepped)
    except UnicodeDecodeError:
        return _UNDECODABLE, None
    buf.clear()
    try:
        return (_stepped_loads(text) if stepped else json.loads(text)), None
    except json.JSONDecodeError:
        return None, text.encode("utf-8", "surrogatepass")
    except RecursionError:  # nested too deep: FastAPI's answer to any other parse failure
        raise HTTPException(400, PARSE_ERROR) from None


def _decode(buf: bytearray, stepped: bool) -> str:
    """`buf` as json.loads decodes bytes (UTF-8, lone surrogates kept)."""
    if not stepped:
        return buf.decode("utf-8", "surrogatepass")
    decoder = codecs.getincrementaldecoder("utf-8")("surrogatepass")
    view = memoryview(buf)
    pieces = [
        decoder.decode(view[start : start + DECODE_STEP_BYTES])
        for start in range(0, len(buf), DECODE_STEP_BYTES)
    ]
    pieces.append(decoder.decode(b"", final=True))
    view.release()
    buf.clear()  # before the join: the pieces and the text are enough alive at once
    return "".join(pieces)


class _TooManyTokens(Exception):
    pass


def _stepped_loads(text: str) -> Any:
    """json.loads(text), by the standard library's Python scanner (the GIL can change hands
    between tokens); the C parser after STEPPED_MAX_TOKENS tokens."""
    decoder = json.JSONDecoder()
    tokens = 0

    def counted(parse: Callable[..., Any]) -> Callable[..., Any]:
        def step(*args: Any) -> Any:
            nonlocal tokens
            tokens += 1
            if tokens > STEPPED_MAX_TOKENS:
                raise _TooManyTokens
            return parse(*args)

        return step

    decoder.parse_string = counted(decoder.parse_string)  # type: ignore[attr-defined]
    decoder.parse_int = counted(decoder.parse_int)
    decoder.parse_float = counted(decoder.parse_float)
    decoder.parse_object = counted(decoder.parse_object)  # type: ignore[attr-defined]
    decoder.parse_array = counted(decoder.parse_array)  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    try:
        return decoder.decode(text)
    except _TooManyTokens:
        return json.loads(text)


class LeanJsonRoute(APIRoute):
    """A route whose JSON body is read by `LeanJsonRequest` before FastAPI's handler runs.

    An endpoint that takes only the request and its body model, and whose body validates, is
    called directly: FastAPI's handler would only solve those same two parameters (its
    dependency machinery was ~7 % of a completion's CPU). Anything else, a body that does not
    validate included, goes through FastAPI's handler as before, which gives its own errors.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        route = self._effective()
        validate = _body_validator(route)
        direct = _direct_call(route)

        async def lean(request: Request) -> Response:
            lean_request = LeanJsonRequest(request.scope, request.receive)
            if _json_content_type(request.headers.get("content-type")):
                big = getattr(request.app.state, "big_bodies", None)
                await lean_request.parse_json_first(validate, big)
                if direct is not None and validate is not None:
                    body = lean_request.parsed()
                    if body is not _NOT_PARSED:
                        model, errors = validate(body)
                        if not errors:
                            return await direct(lean_request, model)
            return await handler(lean_request)

        return lean

    def _effective(self) -> Any:
        """What FastAPI builds this route's handler from: the route as included in its app
        (FastAPI 0.165 keeps an include's dependencies on a context object)."""
        context_var = getattr(fastapi.routing, "_effective_route_context_var", None)
        context = context_var.get() if context_var is not None else None
        return context if getattr(context, "original_route", None) is self else self


def _body_validator(route: Any) -> Validate | None:
    """What FastAPI does with a single, not embedded body parameter (its
    `request_body_to_args`); None for any other shape, which FastAPI validates itself."""
    params = route.dependant.body_params
    if len(params) != 1 or route._embed_body_fields:
        return None
    field = params[0]
    return lambda value: field.validate(value, {}, loc=("body",))


Direct = Callable[[Request, Any], Awaitable[Response]]


def _return_type(call: Any) -> Any:
    try:
        return typing.get_type_hints(call).get("return")
    except Exception:  # an annotation that does not resolve: not called directly
        return None


def _direct_call(route: Any) -> Direct | None:
    """`endpoint(request, body)` for a coroutine endpoint whose only parameters are the
    request and one body model, and that answers with a `Response`; else None."""
    d = route.dependant
    call = d.call
    others = (
        d.dependencies,
        d.path_params,
        d.query_params,
        d.header_params,
        d.cookie_params,
        d.websocket_param_name,
        d.http_connection_param_name,
        d.response_param_name,
        d.background_tasks_param_name,
        d.security_scopes_param_name,
    )
    returns = _return_type(call)
    if (
        any(others)
        or not d.request_param_name
        or len(d.body_params) != 1
        or route._embed_body_fields
        or not inspect.iscoroutinefunction(call)
        or not (isinstance(returns, type) and issubclass(returns, Response))
    ):
        return None
    request_name, body_name = d.request_param_name, d.body_params[0].name

    async def direct(request: Request, body: Any) -> Response:
        response: Response = await call(**{request_name: request, body_name: body})
        return response

    return direct
