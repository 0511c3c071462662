"""Fireworks AI fake: its OpenAI-compatible inference API under `/inference/v1`
(`/completions`, `/chat/completions`, JSON and SSE ending with `data: [DONE]`), with the
legacy `logprobs` object a completion asked for with `logprobs: n` gets, and Fireworks' error
body. Requests without the expected bearer key get its 401."""

from __future__ import annotations

from typing import Any

from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Behaviour, Received, Send, words

PREFIX = "/inference/v1"
KEY = "fw-test-key"


def error_body(status: int) -> dict[str, Any]:
    return {"error": {"object": "error", "type": "invalid_request_error", "message": f"{status}"}}


class FakeFireworks(FakeOpenAI):
    def __init__(self) -> None:
        super().__init__()
        self.first_logprob = -0.05  # the answer's first token; later ones get -0.5

    async def handle(self, received: Received, send: Send) -> None:
        if received.headers.get("authorization") != f"Bearer {KEY}":
            await self.json_answer(send, error_body(401), 401)
            return
        if not received.path.startswith(PREFIX):
            await self.json_answer(send, error_body(404), 404)
            return
        # The OpenAI fake answers `/v1/...`; what was received keeps Fireworks' own path.
        received.path = received.path.removeprefix("/inference")
        try:
            await super().handle(received, send)
        finally:
            received.path = "/inference" + received.path

    async def whole(
        self, body: dict[str, Any], chat: bool, behaviour: Behaviour, send: Send
    ) -> None:
        if chat or not body.get("logprobs"):
            await super().whole(body, chat, behaviour, send)
            return
        tokens = words(behaviour.text)
        logprobs = [self.first_logprob] + [-0.5] * (len(tokens) - 1)
        offsets = [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
        usage = self._usage(body, behaviour)
        await self.json_answer(
            send,
            {
                "id": "cmpl-fw",
                "object": "text_completion",
                "created": 1,
                "model": body.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "text": behaviour.text,
                        "finish_reason": "length"
                        if usage["completion_tokens"] >= body.get("max_tokens", 1 << 30)
                        else "stop",
                        "logprobs": {
                            "tokens": tokens,
                            "token_logprobs": logprobs,
                            "top_logprobs": None,
                            "text_offset": offsets,
                        },
                    }
                ],
                "usage": usage,
            },
        )
