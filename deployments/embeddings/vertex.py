"""Vertex AI text embeddings (`text-embedding-005`) by the documented REST `:predict` of
`publishers/google/models/<model>`. REST rather than `google-genai`: that SDK picks between
`:predict` and `:embedContent` by model and version; this is one stable call, signed with the
same credentials as the Vertex backend."""

from __future__ import annotations

from typing import Any

import httpx

from core.errors import GatewayError
from deployments.backends.common import unexpected
from deployments.embeddings.types import from_status, timed_out
from deployments.google_credentials import GoogleToken

PROVIDER = "vertex-ai"
BATCH = 250  # instances Vertex takes in one predict call


class VertexEmbeddings:
    def __init__(
        self, project: str, location: str, endpoint: str, token: GoogleToken, timeout_s: float
    ) -> None:
        base = endpoint if "://" in endpoint else f"https://{endpoint}"
        self.http = httpx.AsyncClient(base_url=base.rstrip("/"), timeout=timeout_s)
        self.prefix = f"/v1/projects/{project}/locations/{location}/publishers/google/models"
        self.token = token

    async def embed(
        self, model: str, texts: list[str], dimensions: int | None
    ) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), BATCH):
            out.extend(await self._predict(model, texts[start : start + BATCH], dimensions))
        return out

    async def _predict(
        self, model: str, texts: list[str], dimensions: int | None
    ) -> list[list[float]]:
        body: dict[str, Any] = {
            "instances": [{"content": text} for text in texts],
            "parameters": {"autoTruncate": True},
        }
        if dimensions:
            body["parameters"]["outputDimensionality"] = dimensions
        try:
            headers = {"Authorization": f"Bearer {await self.token.get()}"}
            response = await self.http.post(
                f"{self.prefix}/{model}:predict", json=body, headers=headers
            )
        except httpx.TimeoutException:
            raise timed_out(PROVIDER) from None
        except GatewayError:
            raise
        except Exception as exc:  # no connection, no credentials: logged by type, a 503
            raise unexpected(PROVIDER, exc) from None
        if response.status_code >= 400:
            raise from_status(response.status_code, response.headers, PROVIDER)
        predictions = response.json().get("predictions", [])
        return [list(p["embeddings"]["values"]) for p in predictions]
