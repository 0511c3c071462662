"""What the Fireworks backend, the docs searcher and the embedder are bound with: each its own
slice of `Config` (as `Config.anthropic_backend()` and the others are), built here so that
`core.settings` stays the one place of the groups."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from core.edge_settings import AnswerLimitSettings
from core.provider_settings import (
    DocsSearchSettings,
    EmbeddingSettings,
    FireworksSettings,
    VertexSearchSettings,
)
from core.settings import (
    Config,
    LocalModelSettings,
    ModelTimeoutSettings,
)


class FireworksBackendSettings(FireworksSettings):
    timeouts: ModelTimeoutSettings = Field(default_factory=ModelTimeoutSettings)
    answer_limits: AnswerLimitSettings = Field(default_factory=AnswerLimitSettings)


class DocsSearchServiceSettings(BaseModel):
    local: bool = False  # AIGW_CUSTOM_MODELS__ENABLED: the SQLite index, not Vertex AI Search
    docs: DocsSearchSettings = Field(default_factory=DocsSearchSettings)
    vertex: VertexSearchSettings = Field(default_factory=VertexSearchSettings)
    service_account_json_key: SecretStr = SecretStr("")


class EmbeddingServiceSettings(BaseModel):
    embeddings: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    local_model: LocalModelSettings = Field(default_factory=LocalModelSettings)
    vertex_project: str = ""  # "" = no Vertex embeddings
    vertex_location: str = "us-central1"
    vertex_endpoint: str = "us-central1-aiplatform.googleapis.com"
    service_account_json_key: SecretStr = SecretStr("")
    custom_endpoints: bool = False  # AIGW_CUSTOM_MODELS__ENABLED (SSRF guard)
    timeouts: ModelTimeoutSettings = Field(default_factory=ModelTimeoutSettings)


def fireworks_backend(config: Config) -> FireworksBackendSettings:
    return FireworksBackendSettings(
        **config.fireworks.model_dump(),
        timeouts=config.model_timeouts,
        answer_limits=config.limits.answer,
    )


def docs_search_service(config: Config) -> DocsSearchServiceSettings:
    return DocsSearchServiceSettings(
        local=config.custom_models.enabled,
        docs=config.docs_search,
        vertex=config.vertex_search,
        service_account_json_key=config.google_cloud_platform.service_account_json_key,
    )


def embedding_service(config: Config) -> EmbeddingServiceSettings:
    vertex = config.vertex_text_model
    return EmbeddingServiceSettings(
        embeddings=config.embeddings,
        local_model=config.local_model,
        vertex_project=vertex.project,
        vertex_location=vertex.location,
        vertex_endpoint=vertex.endpoint,
        service_account_json_key=config.google_cloud_platform.service_account_json_key,
        custom_endpoints=config.custom_models.enabled,
        timeouts=config.model_timeouts,
    )
