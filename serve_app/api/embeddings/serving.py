"""`POST /v1/embeddings/code_embeddings` (also `/index` and `/search`, the same call): the
embeddings of `contents`, by the model `model_metadata` names (API.md §1.11)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response

from core.errors import ModelUnavailable
from observability.retrieval_metrics import RetrievalMetrics
from serve_app.api.body import LeanJsonRoute
from serve_app.api.context import require
from serve_app.api.embeddings.protocol import (
    EmbeddingsModel,
    EmbeddingsRequest,
    EmbeddingsResponse,
    Prediction,
)
from serve_app.api.framing import ModelJSONResponse
from serve_app.api.openapi import answers
from serve_app.services import Services

router = APIRouter(route_class=LeanJsonRoute)

# The unit primitive of upstream's `embeddings_code` prompt.
UNIT_PRIMITIVE = "generate_embeddings_codebase"
FORBIDDEN = "Unauthorized to access 'embeddings_code'"
ERRORS = (400, 401, 403, 422, 429, 503, 504)


async def _embed(request: Request, payload: EmbeddingsRequest) -> Response:
    require(request, UNIT_PRIMITIVE, FORBIDDEN)
    services: Services = request.app.state.services
    metrics: RetrievalMetrics = request.app.state.retrieval_metrics
    with metrics.embeddings() as measured:
        if services.embedder is None or services.embedding_router is None:
            raise ModelUnavailable("embeddings are not configured")
        meta = payload.model_metadata
        target = services.embedding_router.choose(
            meta.provider, meta.identifier, meta.name, meta.endpoint, meta.api_key
        )
        measured.backend = "mock" if services.embedder.mock else target.kind
        vectors = await services.embedder.embed(target, payload.contents, payload.dimensions)
    return ModelJSONResponse(
        EmbeddingsResponse(
            model=EmbeddingsModel(
                engine=target.engine, name=target.name, identifier=meta.identifier
            ),
            predictions=[Prediction(embedding=v, index=i) for i, v in enumerate(vectors)],
        )
    )


@router.post("/v1/embeddings/code_embeddings", responses=answers(EmbeddingsResponse, *ERRORS))
async def code_embeddings(
    request: Request, payload: Annotated[EmbeddingsRequest, Body()]
) -> Response:
    """Embeddings of `contents` (what `/index` answers too)."""
    return await _embed(request, payload)


@router.post("/v1/embeddings/code_embeddings/index", responses=answers(EmbeddingsResponse, *ERRORS))
async def code_embeddings_index(
    request: Request, payload: Annotated[EmbeddingsRequest, Body()]
) -> Response:
    """Embeddings of code to index."""
    return await _embed(request, payload)


@router.post(
    "/v1/embeddings/code_embeddings/search", responses=answers(EmbeddingsResponse, *ERRORS)
)
async def code_embeddings_search(
    request: Request, payload: Annotated[EmbeddingsRequest, Body()]
) -> Response:
    """Embeddings of a search query."""
    return await _embed(request, payload)
