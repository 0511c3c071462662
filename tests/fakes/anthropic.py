"""Anthropic Messages API fake: `POST /v1/messages`, JSON and the SSE event sequence."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.server import Behaviour, FakeProvider, Received, Send, words

ERRORS = {
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
    400: "invalid_request_error",
    401: "authentication_error",
}


def error_body(status: int) -> dict[str, Any]:
    kind = ERRORS.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": f"fake {kind}"}}


def event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def message_events(
    model: str, text: str | list[str], input_tokens: int, output_tokens: int | None = None
) -> list[str]:
    """The SSE messages of one streamed answer: `text` word by word, or these exact pieces."""
    pieces = words(text) if isinstance(text, str) else text
    events = [
        event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": input_tokens, "output_tokens": 1},
                },
            },
        ),
        event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        event("ping", {"type": "ping"}),
    ]
    events += [
        event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
        )
        for p in pieces
    ]
    events += [
        event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": output_tokens or len(pieces)},
            },
        ),
        event("message_stop", {"type": "message_stop"}),
    ]
    return events


async def answer_messages(
    fake: FakeProvider, body: dict[str, Any], behaviour: Behaviour, send: Send, model: str
) -> None:
    """Answer one Messages call (shared with Claude on the Vertex fake)."""
    streaming = bool(body.get("stream"))
    if await fake.before(behaviour, send, error_body(behaviour.status), streaming):
        return
    input_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    output_tokens = len(behaviour.text.split())
    if behaviour.usage is not None:
        input_tokens, output_tokens = behaviour.usage
    if streaming:
        events = message_events(model, behaviour.parts(), input_tokens, output_tokens)
        await fake.sse(send, events, behaviour)
        return
    await fake.json_answer(
        send,
        {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": behaviour.text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        },
        headers={
            "request-id": "req_fake",
            "anthropic-ratelimit-requests-remaining": "99",
            **behaviour.headers,
        },
    )


class FakeAnthropic(FakeProvider):
    async def handle(self, received: Received, send: Send) -> None:
        behaviour = self.next_behaviour()
        if received.path not in ("/v1/messages", "/v1/messages/count_tokens"):
            await self.json_answer(send, error_body(404), 404)
            return
        body = received.json()
        if received.path.endswith("count_tokens"):
            await self.json_answer(send, {"input_tokens": 7})
            return
        await answer_messages(self, body, behaviour, send, body.get("model", ""))
