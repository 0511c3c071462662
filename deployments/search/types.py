"""What a docs searcher answers, and how it fails."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel

from core.errors import BadRequestError, GatewayError


class SearchHit(BaseModel):
    id: str
    content: str
    metadata: dict[str, Any]


class DocsSearcher(Protocol):
    provider: str  # `metadata.provider` of the answer

    async def search(self, query: str, gl_version: str, page_size: int) -> list[SearchHit]: ...


class DataStoreNotFound(BadRequestError):
    """Neither the requested version's data store nor the fallback's exists (upstream's 400)."""

    def __init__(self) -> None:
        super().__init__("Data store not found.")


class SearchUnavailable(GatewayError):
    """Vertex AI Search failed or could not be reached: 503 with upstream's text (upstream
    answers 500; a provider failure is a 503 everywhere else in this gateway)."""

    status_code = 503

    def __init__(self) -> None:
        super().__init__("Vertex API Search Error.")


def estimate_tokens(text: str) -> int:
    """Upstream's estimate: 1.4 tokens a word."""
    return int(len(text.split()) * 1.4)


def within_tokens(hits: list[SearchHit], max_tokens: int) -> list[SearchHit]:
    """The best hits whose content fits `max_tokens` together (what a small self-hosted model
    can take as context), as upstream's SQLite search keeps them."""
    kept: list[SearchHit] = []
    used = 0
    for hit in hits:
        tokens = estimate_tokens(hit.content)
        if used + tokens > max_tokens:
            break
        used += tokens
        kept.append(hit)
    return kept
