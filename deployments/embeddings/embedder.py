"""The embeddings clients of one ingress replica, and the call that picks among them."""

from __future__ import annotations

import hashlib
import math

from core.errors import BadRequestError, ModelUnavailable
from core.provider_slices import EmbeddingServiceSettings
from deployments.embeddings.local import LocalEmbeddings
from deployments.embeddings.openai_compat import OpenAIEmbeddings
from deployments.embeddings.types import EmbeddingTarget
from deployments.embeddings.vertex import VertexEmbeddings
from deployments.google_credentials import GoogleToken

MOCK_DIMENSIONS = 768


def mock_vector(text: str, size: int) -> list[float]:
    """Mock mode's embedding: the same text always gets the same unit vector, no model runs."""
    digest = hashlib.sha256(text.encode()).digest()
    values = [digest[i % len(digest)] / 255 - 0.5 for i in range(size)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


class Embedder:
    def __init__(self, settings: EmbeddingServiceSettings, mock: bool = False) -> None:
        self.settings = settings
        self.mock = mock  # AIGW_MOCK_MODEL_RESPONSES: no provider is called
        timeout = settings.timeouts.total_s
        self.vertex = (
            VertexEmbeddings(
                settings.vertex_project,
                settings.vertex_location,
                settings.vertex_endpoint,
                GoogleToken(settings.service_account_json_key.get_secret_value()),
                timeout,
            )
            if settings.vertex_project
            else None
        )
        self.openai = OpenAIEmbeddings(timeout)
        self.local = LocalEmbeddings(
            settings.local_model, settings.embeddings.local_path, settings.embeddings.local_threads
        )

    async def embed(
        self, target: EmbeddingTarget, texts: list[str], dimensions: int | None
    ) -> list[list[float]]:
        if len(texts) > self.settings.embeddings.max_contents:
            raise BadRequestError(
                f"at most {self.settings.embeddings.max_contents} contents per request"
            )
        if self.mock:
            return [mock_vector(text, dimensions or MOCK_DIMENSIONS) for text in texts]
        if target.kind == "openai":
            key = target.api_key.get_secret_value() if target.api_key else ""
            return await self.openai.embed(target.endpoint, key, target.model, texts, dimensions)
        if target.kind == "vertex":
            if self.vertex is None:
                raise ModelUnavailable("Vertex AI embeddings are not configured")
            return await self.vertex.embed(target.model, texts, dimensions)
        return await self.local.embed(texts, dimensions)
