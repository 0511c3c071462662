"""The embeddings clients of one ingress replica, and the call that picks among them."""

from __future__ import annotations

from core.errors import BadRequestError, ModelUnavailable
from core.provider_slices import EmbeddingServiceSettings
from deployments.embeddings.local import LocalEmbeddings
from deployments.embeddings.openai_compat import OpenAIEmbeddings
from deployments.embeddings.types import EmbeddingTarget
from deployments.embeddings.vertex import VertexEmbeddings
from deployments.google_credentials import GoogleToken


class Embedder:
    def __init__(self, settings: EmbeddingServiceSettings) -> None:
        self.settings = settings
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
        if target.kind == "openai":
            key = target.api_key.get_secret_value() if target.api_key else ""
            return await self.openai.embed(target.endpoint, key, target.model, texts, dimensions)
        if target.kind == "vertex":
            if self.vertex is None:
                raise ModelUnavailable("Vertex AI embeddings are not configured")
            return await self.vertex.embed(target.model, texts, dimensions)
        return await self.local.embed(texts, dimensions)
