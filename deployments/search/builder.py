"""Which docs searcher a gateway runs (API.md §1.8)."""

from __future__ import annotations

from core.provider_slices import DocsSearchServiceSettings
from deployments.search.docs_index import LocalDocsSearch
from deployments.search.types import DocsSearcher
from deployments.search.vertex_search import VertexDocsSearch


def build_docs_searcher(settings: DocsSearchServiceSettings) -> DocsSearcher:
    """The local SQLite index when custom models are enabled (self-managed), else Vertex AI
    Search (a gateway without a Google project answers its 503 when asked)."""
    if settings.local:
        return LocalDocsSearch(settings.docs.index_path, settings.docs.max_tokens)
    return VertexDocsSearch(settings.vertex, settings.service_account_json_key.get_secret_value())
