"""What an embeddings call targets, and its errors as the contract maps them: a provider's
400 / 401 / 429 stay 400 / 401 / 429 (its message is not passed on: it may echo the input), a
timeout is a 504, anything else the usual 503."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr

from core.errors import (
    BadRequestError,
    GatewayError,
    GatewayTimeoutError,
    ModelError,
    ModelRateLimited,
)

Kind = Literal["vertex", "openai", "local"]


class EmbeddingTarget(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Kind
    model: str  # sent to the provider
    engine: str  # reported as model.engine
    name: str  # reported as model.name
    endpoint: str = ""  # openai: the caller's OpenAI-compatible base URL
    api_key: SecretStr | None = None


class EmbeddingAuthFailed(GatewayError):
    """The provider refused the key: 401 `{"detail"}` (not the gateway's own 401 body)."""

    status_code = 401


def from_status(status: int, headers: Mapping[str, str] | None, provider: str) -> GatewayError:
    if status == 429:
        return ModelRateLimited(f"{provider} rate limited", (headers or {}).get("retry-after"))
    if status in (401, 403):
        return EmbeddingAuthFailed(f"{provider} embeddings: authentication failed")
    if 400 <= status < 500:
        return BadRequestError(f"{provider} embeddings: the request was refused ({status})")
    return ModelError(f"{provider} embeddings answered HTTP {status}", upstream_status=status)


def timed_out(provider: str) -> GatewayError:
    return GatewayTimeoutError(f"{provider} embeddings timed out")
