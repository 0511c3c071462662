"""Which docs searcher a gateway runs (API.md §1.8)."""

from __future__ import annotations

from core.provider_slices import DocsSearchServiceSettings
from deployments.search.docs_index import LocalDocsSearch
from deployments.search.types import DocsSearcher, SearchHit
from deployments.search.vertex_search import VertexDocsSearch


class MockDocsSearch:
    """Mock mode (`AIGW_MOCK_MODEL_RESPONSES`): one result that echoes the query."""

    provider = "mock"

    async def search(self, query: str, gl_version: str, page_size: int) -> list[SearchHit]:
        meta = {
            "title": "Mock result",
            "source_url": "https://docs.gitlab.com/",
            "version": gl_version,
        }
        return [SearchHit(id="mock", content=f"echo: {query[:1000]}", metadata=meta)]


def build_docs_searcher(settings: DocsSearchServiceSettings, mock: bool = False) -> DocsSearcher:
    """The local SQLite index when custom models are enabled (self-managed), else Vertex AI
    Search (a gateway without a Google project answers its 503 when asked); the echo in mock
    mode."""
    if mock:
        return MockDocsSearch()
    if settings.local:
        return LocalDocsSearch(settings.docs.index_path, settings.docs.max_tokens)
    return VertexDocsSearch(settings.vertex, settings.service_account_json_key.get_secret_value())
