"""Vertex AI fake: an OAuth token endpoint, Gemini `generateContent` /
`streamGenerateContent?alt=sse`, Claude `rawPredict` / `streamRawPredict`, Codestral FIM
`rawPredict` / `streamRawPredict` and text embeddings `predict` under
`/v1/projects/<p>/locations/<l>/publishers/...`."""

from __future__ import annotations

import json
import re
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.anthropic import answer_messages
from tests.fakes.server import Behaviour, FakeProvider, Received, Send, words

PATH = re.compile(
    r"^/v1(?:beta1)?/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
    r"/publishers/(?P<publisher>[^/]+)/models/(?P<model>[^/:]+):(?P<verb>\w+)$"
)
TOKEN = "ya29.fake-access-token"
STATUS = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 400: "INVALID_ARGUMENT", 503: "UNAVAILABLE"}


def error_body(status: int) -> dict[str, Any]:
    return {
        "error": {
            "code": status,
            "message": f"fake {status}",
            "status": STATUS.get(status, "UNKNOWN"),
        }
    }


def data(obj: Any) -> str:
    return f"data: {json.dumps(obj)}\r\n\r\n"


def service_account_json(token_uri: str, project: str = "fake-project") -> str:
    """A service-account key file whose token endpoint is the fake (a real RSA key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": project,
            "private_key_id": "fake-key-id",
            "private_key": pem,
            "client_email": f"aigw@{project}.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": token_uri,
        }
    )


class FakeVertex(FakeProvider):
    async def handle(self, received: Received, send: Send) -> None:
        if received.path == "/token":
            await self.json_answer(
                send, {"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer"}
            )
            return
        match = PATH.match(received.path)
        if match is None:
            await self.json_answer(send, error_body(404), 404)
            return
        behaviour = self.next_behaviour()
        body = received.json()
        publisher, verb, model = match["publisher"], match["verb"], match["model"]
        if publisher == "anthropic":
            body.setdefault("stream", verb == "streamRawPredict")
            await answer_messages(self, body, behaviour, send, model)
            return
        streaming = verb.startswith("stream")
        if await self.before(behaviour, send, error_body(behaviour.status), streaming):
            return
        if publisher == "mistralai":
            await self.codestral(body, streaming, behaviour, send, model)
        elif verb == "predict":
            await self.embeddings(body, send)
        else:
            await self.gemini(body, streaming, behaviour, send)

    async def gemini(
        self, body: dict[str, Any], streaming: bool, behaviour: Behaviour, send: Send
    ) -> None:
        prompt = sum(
            len(p.get("text", "").split())
            for c in body.get("contents", [])
            for p in c.get("parts", [])
        )
        pieces = words(behaviour.text)

        def response(text: str, last: bool) -> dict[str, Any]:
            candidate: dict[str, Any] = {
                "content": {"role": "model", "parts": [{"text": text}]},
                "index": 0,
            }
            out: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-2.5-flash"}
            if last:
                candidate["finishReason"] = "STOP"
                out["usageMetadata"] = {
                    "promptTokenCount": prompt,
                    "candidatesTokenCount": len(pieces),
                    "totalTokenCount": prompt + len(pieces),
                }
            return out

        if not streaming:
            await self.json_answer(send, response(behaviour.text, True))
            return
        events = [data(response(p, i == len(pieces) - 1)) for i, p in enumerate(pieces)]
        await self.sse(send, events, behaviour)

    async def codestral(
        self, body: dict[str, Any], streaming: bool, behaviour: Behaviour, send: Send, model: str
    ) -> None:
        pieces = words(behaviour.text)
        usage = {
            "prompt_tokens": len(body.get("prompt", "").split()),
            "completion_tokens": len(pieces),
        }
        if not streaming:
            await self.json_answer(
                send,
                {
                    "id": "fim-fake",
                    "object": "chat.completion",
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": behaviour.text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                },
            )
            return
        events = []
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            event: dict[str, Any] = {
                "id": "fim-fake",
                "object": "chat.completion.chunk",
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"content": piece},
                        "finish_reason": "stop" if last else None,
                    }
                ],
            }
            if last:
                event["usage"] = usage
            events.append(data(event))
        events.append("data: [DONE]\r\n\r\n")
        await self.sse(send, events, behaviour)

    async def embeddings(self, body: dict[str, Any], send: Send) -> None:
        """Text embeddings: a vector per instance, derived from its text (so equal texts get
        equal vectors), `outputDimensionality` long (768 by default)."""
        size = int(body.get("parameters", {}).get("outputDimensionality") or 768)
        predictions = []
        for instance in body.get("instances", []):
            seed = sum(instance["content"].encode()) or 1
            values = [((seed * (i + 1)) % 97) / 97 for i in range(size)]
            stats = {"truncated": False, "token_count": len(instance["content"].split())}
            predictions.append({"embeddings": {"values": values, "statistics": stats}})
        await self.json_answer(send, {"predictions": predictions})
