"""Which model answers an embeddings request (API.md §1.11), from its `model_metadata`, with
upstream's 422 texts. `provider: litellm` is the caller's OpenAI-compatible `/v1/embeddings`
server (`name` must be `embedding`, `endpoint` set, custom models enabled); `provider: gitlab`
is a GitLab model: `text_embedding_005_vertex`, the embedded model `smollm2_135m_local`, or
`""`, the default: Vertex when the gateway has a Google project, else the embedded model."""

from __future__ import annotations

from pydantic import SecretStr

from core.errors import UnprocessableError
from deployments.embeddings.types import EmbeddingTarget
from routing.provider_models import LiteLLMPrefixes
from routing.selection import CUSTOM_ENDPOINT_DISABLED
from routing.self_hosted import upstream_model_id

EMBEDDING_NAME = "embedding"  # the self-hosted family of embedding models
VERTEX_ID = "text_embedding_005_vertex"
LOCAL_ID = "smollm2_135m_local"
ALLOWED = ("gitlab", "litellm")


class EmbeddingRouter:
    def __init__(
        self,
        *,
        vertex: bool,
        vertex_model: str,
        local_name: str,
        custom_endpoints: bool,
        prefixes: LiteLLMPrefixes,
    ) -> None:
        self.vertex = vertex  # the gateway has a Google project
        self.vertex_model = vertex_model
        self.local_name = local_name
        self.custom_endpoints = custom_endpoints
        self.prefixes = prefixes

    def choose(
        self,
        provider: str,
        identifier: str,
        name: str | None = None,
        endpoint: str | None = None,
        api_key: str | None = None,
    ) -> EmbeddingTarget:
        if provider not in ALLOWED:
            raise UnprocessableError(f"Allowed providers are: {'|'.join(ALLOWED)}.")
        if provider == "litellm":
            return self._self_hosted(identifier, name, endpoint, api_key)
        if identifier == VERTEX_ID or (identifier == "" and self.vertex):
            return EmbeddingTarget(
                kind="vertex", model=self.vertex_model, engine="vertex-ai", name=self.vertex_model
            )
        if identifier in ("", LOCAL_ID):
            return EmbeddingTarget(
                kind="local", model=self.local_name, engine="llama.cpp", name=self.local_name
            )
        raise UnprocessableError(
            f"Error creating the model_metadata: no embedding model {identifier!r}"
        )

    def _self_hosted(
        self, identifier: str, name: str | None, endpoint: str | None, api_key: str | None
    ) -> EmbeddingTarget:
        if not name:
            raise UnprocessableError("Model `name` must be set when using `litellm` provider.")
        if name != EMBEDDING_NAME:
            raise UnprocessableError(
                f"Model `name` must be '{EMBEDDING_NAME}' when using `litellm` provider."
            )
        if not endpoint:
            raise UnprocessableError("Model `endpoint` must be set when using `litellm` provider.")
        if not self.custom_endpoints:
            raise UnprocessableError(CUSTOM_ENDPOINT_DISABLED)
        model = upstream_model_id(identifier, name, self.prefixes)
        return EmbeddingTarget(
            kind="openai",
            model=model,
            engine="litellm",
            name=model,
            endpoint=endpoint,
            api_key=SecretStr(api_key) if api_key else None,
        )
