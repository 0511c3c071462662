"""What the ingress serves besides model calls: the docs searcher (API.md §1.8) and the
embeddings clients (§1.11), each built once per replica from its slice of the settings."""

from __future__ import annotations

from dataclasses import dataclass

from core.provider_slices import docs_search_service, embedding_service
from core.settings import Config
from deployments.embeddings.embedder import Embedder
from deployments.search.builder import build_docs_searcher
from deployments.search.types import DocsSearcher
from routing.embedding_models import EmbeddingRouter
from routing.provider_models import LiteLLMPrefixes


@dataclass(slots=True)
class Services:
    # None: the endpoint answers 503
    docs_search: DocsSearcher | None = None
    embedder: Embedder | None = None
    embedding_router: EmbeddingRouter | None = None

    @classmethod
    def from_config(cls, settings: Config, prefixes: LiteLLMPrefixes) -> Services:
        embeddings = embedding_service(settings)
        mock = settings.mock_model_responses
        embedder = Embedder(embeddings, mock=mock)
        router = EmbeddingRouter(
            vertex=bool(embeddings.vertex_project),
            vertex_model=embeddings.embeddings.vertex_model,
            local_name=embedder.local.name,
            custom_endpoints=embeddings.custom_endpoints,
            prefixes=prefixes,
        )
        return cls(
            docs_search=build_docs_searcher(docs_search_service(settings), mock=mock),
            embedder=embedder,
            embedding_router=router,
        )
