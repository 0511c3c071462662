"""`POST /v1/search/gitlab-docs` (API.md §1.8): the GitLab docs a question is about, from Vertex
AI Search or, with custom models enabled, the local index."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response

from deployments.search.types import SearchUnavailable
from observability.retrieval_metrics import RetrievalMetrics
from serve_app.api.body import LeanJsonRoute
from serve_app.api.context import require
from serve_app.api.framing import ModelJSONResponse
from serve_app.api.openapi import answers
from serve_app.api.search.protocol import (
    SearchRequest,
    SearchResponse,
    SearchResponseDetails,
    SearchResponseMetadata,
    SearchResult,
)
from serve_app.services import Services

router = APIRouter(route_class=LeanJsonRoute)

UNIT_PRIMITIVE = "documentation_search"
FORBIDDEN = "Unauthorized to search documentations"


@router.post("/v1/search/gitlab-docs", responses=answers(SearchResponse, 400, 401, 403, 422, 503))
async def gitlab_docs(request: Request, search: Annotated[SearchRequest, Body()]) -> Response:
    """Search the docs of `metadata.version`; `page_size` results at most."""
    require(request, UNIT_PRIMITIVE, FORBIDDEN)
    services: Services = request.app.state.services
    metrics: RetrievalMetrics = request.app.state.retrieval_metrics
    searcher = services.docs_search
    payload = search.payload
    with metrics.docs_search(searcher.provider if searcher is not None else None):
        if searcher is None:
            raise SearchUnavailable()
        hits = await searcher.search(payload.query, search.metadata.version, payload.page_size)
    results = [SearchResult(id=h.id, content=h.content, metadata=h.metadata) for h in hits]
    return ModelJSONResponse(
        SearchResponse(
            response=SearchResponseDetails(results=results),
            metadata=SearchResponseMetadata(provider=searcher.provider, timestamp=int(time.time())),
        )
    )
