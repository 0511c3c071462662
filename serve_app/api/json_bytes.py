"""`json.loads(body)` for a big UTF-8 body, read from its bytes in steps that each hold the GIL
for about a millisecond, so a worker thread parsing it leaves the event loop free.

`json.loads` decodes the whole body into one str first: for a 52 MB body that decode (or the
join of decoded pieces) is one C call holding the GIL for 100-150 ms under load, and every
small request beside it waits that out. Here the body is never decoded whole: JSON's
structure is ASCII, and no byte of a multi-byte UTF-8 character is ASCII, so strings are found
in the bytes and each one is decoded alone (`str(memoryview, "utf-8")`, no copy of the bytes)
and unescaped by the standard library's own `scanstring`. Numbers, literals and the accepted
non-standard `NaN`/`Infinity` follow `json.loads`; duplicate keys keep the last value.

A body this cannot parse raises `NotParsed`: the caller then lets `json.loads` give the exact
error (same message and position as FastAPI's own parse). A body of many small tokens would be
slow in Python (about a microsecond a token): past `max_tokens` it raises `NotParsed` as well.
"""

from __future__ import annotations

import json.decoder
import re
import time
from typing import Any

_WS = re.compile(rb"[ \t\n\r]*")
_NUMBER = re.compile(rb"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_CONSTANTS: dict[bytes, Any] = {
    b"null": None,
    b"true": True,
    b"false": False,
    b"NaN": float("nan"),
    b"Infinity": float("inf"),
    b"-Infinity": float("-inf"),
}
_SCANSTRING = getattr(json.decoder, "scanstring")  # noqa: B009 (not in the stubs)
MAX_DEPTH = 1000  # where json.loads (the C scanner) gives up with RecursionError too
# After a string this long, hand the GIL over: an event loop waiting for it gets it now, not
# after the interpreter's 5 ms switch interval (each wait adds to a small request's latency).
YIELD_AFTER_BYTES = 16 * 1024


class NotParsed(Exception):
    """Not parsed here: json.loads says why (or parses it, past the token budget)."""


class _Parser:
    def __init__(self, data: memoryview, max_tokens: int) -> None:
        self.data = data
        self.raw = data.obj if isinstance(data.obj, bytes | bytearray) else bytes(data)
        self.max_tokens = max_tokens
        self.tokens = 0
        self.keys: dict[str, str] = {}

    def ws(self, pos: int) -> int:
        match = _WS.match(self.raw, pos)
        return match.end() if match else pos

    def string(self, pos: int) -> tuple[str, int]:
        """The string whose opening quote is at pos - 1; the position after its closing quote."""
        raw, end = self.raw, pos
        while True:  # the closing quote: one not escaped by an odd run of backslashes
            quote = raw.find(b'"', end)
            if quote < 0:
                raise NotParsed
            before = quote
            while raw[before - 1] == 0x5C and before > pos:  # backslash
                before -= 1
            end = quote + 1
            if (quote - before) % 2 == 0:
                break
        text = str(self.data[pos:end], "utf-8", "surrogatepass")  # UnicodeDecodeError: a 400
        if end - pos > YIELD_AFTER_BYTES:
            time.sleep(0)
        if "\\" not in text and not _has_control(text):
            return text[:-1], end
        try:
            value, _ = _SCANSTRING(text, 0, True)
        except json.JSONDecodeError:
            raise NotParsed from None
        if end - pos > YIELD_AFTER_BYTES:
            time.sleep(0)
        return value, end

    def scalar(self, pos: int) -> tuple[Any, int]:
        char = self.raw[pos : pos + 1]
        if char == b'"':
            return self.string(pos + 1)
        match = _NUMBER.match(self.raw, pos)
        if match is not None:
            integer, frac, exp = match.groups()
            if frac or exp:
                return float(match.group()), match.end()
            return int(integer), match.end()
        for literal, value in _CONSTANTS.items():
            if self.raw.startswith(literal, pos):
                return value, pos + len(literal)
        raise NotParsed

    def parse(self) -> Any:
        """An explicit stack instead of recursion: each container is a list or dict with the
        key it waits a value for."""
        raw = self.raw
        pos = self.ws(0)
        stack: list[tuple[list[Any] | dict[str, Any], str | None]] = []
        value: Any = None
        while True:
            self.tokens += 1
            if self.tokens > self.max_tokens:
                raise NotParsed
            char = raw[pos : pos + 1]
            if char == b"{":
                pos = self.ws(pos + 1)
                if raw[pos : pos + 1] == b"}":
                    value, pos = {}, pos + 1
                else:
                    key, pos = self._key(pos)
                    stack.append(({}, key))
                    self._depth(stack)
                    continue
            elif char == b"[":
                pos = self.ws(pos + 1)
                if raw[pos : pos + 1] == b"]":
                    value, pos = [], pos + 1
                else:
                    stack.append(([], None))
                    self._depth(stack)
                    continue
            else:
                value, pos = self.scalar(pos)
            # A value is complete: hand it to its container, and close what it completes.
            while True:
                pos = self.ws(pos)
                if not stack:
                    if pos != len(raw):
                        raise NotParsed  # extra data
                    return value
                container, waiting = stack[-1]
                sep = raw[pos : pos + 1]
                if isinstance(container, dict):
                    container[waiting or ""] = value
                    if sep == b",":
                        key, pos = self._key(self.ws(pos + 1))
                        stack[-1] = (container, key)
                        break
                    if sep != b"}":
                        raise NotParsed
                else:
                    container.append(value)
                    if sep == b",":
                        pos = self.ws(pos + 1)
                        break
                    if sep != b"]":
                        raise NotParsed
                value, pos = container, pos + 1
                stack.pop()

    def _key(self, pos: int) -> tuple[str, int]:
        """A member's key and the position of its value."""
        if self.raw[pos : pos + 1] != b'"':
            raise NotParsed
        key, pos = self.string(pos + 1)
        key = self.keys.setdefault(key, key)
        pos = self.ws(pos)
        if self.raw[pos : pos + 1] != b":":
            raise NotParsed
        return key, self.ws(pos + 1)

    @staticmethod
    def _depth(stack: list[Any]) -> None:
        if len(stack) > MAX_DEPTH:
            raise NotParsed


_CONTROL = re.compile("[\x00-\x1f]")


def _has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def loads(body: bytes | bytearray, max_tokens: int) -> Any:
    """`json.loads(body)` for a UTF-8 body (UnicodeDecodeError when a string does not decode;
    NotParsed when this cannot say, see the module's doc)."""
    with memoryview(body) as view:
        return _Parser(view, max_tokens).parse()
