"""Request and response of `/v1/search/gitlab-docs` (API.md §1.8)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from serve_app.api.common import Lenient

DEFAULT_PAGE_SIZE = 4


class SearchMetadata(Lenient):
    source: Annotated[str, StringConstraints(max_length=100)]
    version: Annotated[str, StringConstraints(max_length=100)]


class SearchPayload(Lenient):
    query: Annotated[str, StringConstraints(max_length=400_000)]
    page_size: Annotated[int, Field(ge=1, le=20)] = DEFAULT_PAGE_SIZE


class SearchRequest(Lenient):
    type: Annotated[str, StringConstraints(max_length=100)]
    metadata: SearchMetadata
    payload: SearchPayload


class SearchResult(BaseModel):
    id: str
    content: str
    metadata: dict[str, Any]


class SearchResponseDetails(BaseModel):
    results: list[SearchResult]


class SearchResponseMetadata(BaseModel):
    provider: str
    timestamp: int


class SearchResponse(BaseModel):
    response: SearchResponseDetails
    metadata: SearchResponseMetadata
