"""Any OpenAI-compatible `/v1/embeddings` endpoint a request names (`model_metadata` of
provider `litellm`), through the `openai` SDK; one client per endpoint, the key per request."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import openai

from core.errors import GatewayError
from deployments.backends.common import unexpected
from deployments.embeddings.types import from_status, timed_out

PROVIDER = "openai-compatible"
NO_KEY = "dummy_key"
MAX_POOLED_ENDPOINTS = 64


class OpenAIEmbeddings:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._clients: OrderedDict[str, openai.AsyncOpenAI] = OrderedDict()

    def client_for(self, endpoint: str) -> openai.AsyncOpenAI:
        client = self._clients.get(endpoint)
        if client is None:
            client = openai.AsyncOpenAI(api_key=NO_KEY, base_url=endpoint, max_retries=0)
            self._clients[endpoint] = client
            if len(self._clients) > MAX_POOLED_ENDPOINTS:
                self._clients.popitem(last=False)
        self._clients.move_to_end(endpoint)
        return client

    async def embed(
        self, endpoint: str, key: str, model: str, texts: list[str], dimensions: int | None
    ) -> list[list[float]]:
        params: dict[str, Any] = {
            "model": model,
            "input": texts,
            # The SDK asks for base64 unless told; not every OpenAI-compatible server has it.
            "encoding_format": "float",
            "timeout": self.timeout_s,
            "extra_headers": {"Authorization": f"Bearer {key or NO_KEY}"},
        }
        if dimensions:
            params["dimensions"] = dimensions
        try:
            response = await self.client_for(endpoint.rstrip("/")).embeddings.create(**params)
        except openai.APITimeoutError:
            raise timed_out(PROVIDER) from None
        except openai.APIStatusError as exc:
            raise from_status(exc.status_code, exc.response.headers, PROVIDER) from None
        except GatewayError:
            raise
        except Exception as exc:
            raise unexpected(PROVIDER, exc) from None
        ordered = sorted(response.data, key=lambda item: item.index)
        return [list(item.embedding) for item in ordered]
