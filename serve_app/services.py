"""What the ingress serves besides model calls: the docs searcher (API.md §1.8) and the
embedder (§1.11), each built once per replica from its slice of the settings."""

from __future__ import annotations

from dataclasses import dataclass

from core.provider_slices import docs_search_service
from core.settings import Config
from deployments.search.builder import build_docs_searcher
from deployments.search.types import DocsSearcher


@dataclass(slots=True)
class Services:
    docs_search: DocsSearcher | None = None  # None: the endpoint answers 503

    @classmethod
    def from_config(cls, settings: Config) -> Services:
        return cls(docs_search=build_docs_searcher(docs_search_service(settings)))
