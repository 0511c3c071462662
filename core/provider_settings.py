"""Setting groups of Fireworks, documentation search and embeddings (API.md §1.8, §1.11,
§6.4). `core.settings.Config` holds them; the slices their backends are bound with are in
`core.provider_slices`."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

FIREWORKS_BASE_URL = "https://api.fireworks.ai/inference/v1"


class FireworksSettings(BaseModel):
    """`AIGW_FIREWORKS__*`: the GitLab-managed Codestral models on Fireworks AI. Without a key
    the `codestral_250{1,8}_fireworks` ids answer 503."""

    api_key: SecretStr = SecretStr("")
    base_url: str = FIREWORKS_BASE_URL
    # Provider model (`codestral-2501`) -> the Fireworks model or deployment to call
    # (`accounts/<account>/deployedModels/<name>`); unnamed ones get the public serverless id.
    models: dict[str, str] = Field(default_factory=dict)
    # Fireworks caches prompt prefixes per replica. A call uses the cache when the client's
    # `X-Gitlab-Model-Prompt-Cache-Enabled` allows it (default true, as upstream) and this does.
    prompt_cache: bool = True


class VertexSearchSettings(BaseModel):
    """`AIGW_VERTEX_SEARCH__*` (API.md §3.2); unset values come from
    `AIGW_GOOGLE_CLOUD_PLATFORM__*`. `endpoint` is ours (tests point it at a fake)."""

    project: str = ""
    location: str = "global"  # data stores of the GitLab docs live in `global`
    fallback_datastore_version: str = ""
    endpoint: str = "https://discoveryengine.googleapis.com"
    timeout_s: float = Field(default=10.0, gt=0)


class DocsSearchSettings(BaseModel):
    """`AIGW_DOCS_SEARCH__*` (ours): the local index served when custom models are enabled,
    built by `aigw docs-index PATH`."""

    index_path: str = "docs.db"
    max_tokens: int = Field(default=8000, ge=1)  # results kept, as upstream's SQLite search


class EmbeddingSettings(BaseModel):
    """`AIGW_EMBEDDINGS__*` (ours): Vertex text embeddings and the embedded model's."""

    vertex_model: str = "text-embedding-005"
    # The embedded default: llama.cpp in embedding mode over this GGUF ("" = the local
    # model's own file, SmolLM2-135M).
    local_path: str = ""
    local_threads: int = Field(default=0, ge=0)
    max_contents: int = Field(default=250, ge=1)  # texts per request (Vertex takes 250)


class ModelKeySettings(BaseModel):
    """`AIGW_MODEL_KEYS__*`, upstream's names for server-side provider keys (API.md §3.2)."""

    fireworks_provider_api_key: SecretStr = SecretStr("")
    mistral_api_key: SecretStr = SecretStr("")
