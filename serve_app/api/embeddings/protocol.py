"""Request and response of the code embeddings routes (API.md §1.11)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from serve_app.api.common import Lenient


class EmbeddingsModelMetadata(Lenient):
    provider: Annotated[str, StringConstraints(max_length=100)]
    identifier: Annotated[str, StringConstraints(max_length=1000)]
    name: Annotated[str, StringConstraints(max_length=255)] | None = None
    endpoint: Annotated[str, StringConstraints(max_length=255)] | None = None
    api_key: Annotated[str, StringConstraints(max_length=2000)] | None = None


class EmbeddingsRequest(Lenient):
    model_metadata: EmbeddingsModelMetadata
    contents: list[str]
    dimensions: Annotated[int, Field(ge=1, le=3072)] | None = None
    # LiteLLM's: drop parameters a provider does not take. Accepted; ours send none it refuses.
    litellm_drop_params: bool | None = None


class EmbeddingsModel(BaseModel):
    engine: str
    name: str
    identifier: str


class Prediction(BaseModel):
    embedding: list[float]
    index: int


class EmbeddingsResponse(BaseModel):
    model: EmbeddingsModel
    predictions: list[Prediction]
