"""OpenAI-compatible fake (vLLM / Ollama / llama.cpp server alike): `/v1/completions` and
`/v1/chat/completions`, JSON and SSE ending with `data: [DONE]`; `/v1/models`;
`/v1/embeddings` (a queued `status` behaviour answers its error instead)."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.server import Behaviour, FakeProvider, Received, Send


def error_body(status: int) -> dict[str, Any]:
    return {"error": {"message": f"fake error {status}", "type": "server_error", "code": status}}


def data(obj: Any) -> str:
    return f"data: {json.dumps(obj)}\n\n"


class FakeOpenAI(FakeProvider):
    async def handle(self, received: Received, send: Send) -> None:
        if received.path == "/v1/models":
            await self.json_answer(
                send, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}
            )
            return
        if received.path == "/v1/embeddings":
            await self.embeddings(received, send)
            return
        if received.path not in ("/v1/completions", "/v1/chat/completions"):
            await self.json_answer(send, error_body(404), 404)
            return
        behaviour = self.next_behaviour()
        body = received.json()
        chat = received.path.endswith("chat/completions")
        streaming = bool(body.get("stream"))
        if await self.before(behaviour, send, error_body(behaviour.status), streaming):
            return
        await (self.stream if streaming else self.whole)(body, chat, behaviour, send)

    @staticmethod
    def _usage(body: dict[str, Any], behaviour: Behaviour) -> dict[str, int]:
        prompt = body.get("prompt") or " ".join(
            m.get("content", "") for m in body.get("messages", [])
        )
        p, c = behaviour.usage or (len(str(prompt).split()), len(behaviour.text.split()))
        return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

    async def whole(
        self, body: dict[str, Any], chat: bool, behaviour: Behaviour, send: Send
    ) -> None:
        text = behaviour.text
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop", "logprobs": None}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        await self.json_answer(
            send,
            {
                "id": "cmpl-fake",
                "object": "chat.completion" if chat else "text_completion",
                "created": 1,
                "model": body.get("model", ""),
                "choices": [choice],
                "usage": self._usage(body, behaviour),
            },
        )

    async def stream(
        self, body: dict[str, Any], chat: bool, behaviour: Behaviour, send: Send
    ) -> None:
        model = body.get("model", "")
        kind = "chat.completion.chunk" if chat else "text_completion"
        events = []
        pieces = behaviour.parts()
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            if chat:
                choice: dict[str, Any] = {"index": 0, "delta": {"content": piece}}
            else:
                choice = {"index": 0, "text": piece, "logprobs": None}
            choice["finish_reason"] = "stop" if last else None
            events.append(
                data(
                    {
                        "id": "cmpl-fake",
                        "object": kind,
                        "created": 1,
                        "model": model,
                        "choices": [choice],
                    }
                )
            )
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(
                data(
                    {
                        "id": "cmpl-fake",
                        "object": kind,
                        "created": 1,
                        "model": model,
                        "choices": [],
                        "usage": self._usage(body, behaviour),
                    }
                )
            )
        events.append("data: [DONE]\n\n")
        await self.sse(send, events, behaviour)

    async def embeddings(self, received: Received, send: Send) -> None:
        behaviour = self.next_behaviour()
        if await self.before(behaviour, send, error_body(behaviour.status)):
            return
        body = received.json()
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        size = int(body.get("dimensions") or 8)
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": [float(len(t) + j) for j in range(size)],
            }
            for i, t in enumerate(texts)
        ]
        # Out of order on purpose: clients must sort by `index`.
        await self.json_answer(
            send,
            {
                "object": "list",
                "data": data[::-1],
                "model": body.get("model", ""),
                "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)},
            },
        )
