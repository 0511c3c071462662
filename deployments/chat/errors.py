"""Errors only the chat and prompts APIs answer (mapped by the ingress like every GatewayError:
status `status_code`, body `{"detail": message}`)."""

from __future__ import annotations

from http import HTTPStatus

from core.errors import GatewayError


class BadGatewayError(GatewayError):
    """502: `/v1/chat` when the provider answered an error status or could not be reached."""

    status_code = 502


class GatewayTimeoutError(GatewayError):
    """504: `/v1/chat` when the provider timed out."""

    status_code = 504


class ModelStatusError(GatewayError):
    """421 `"<code>: <reason>"`: the prompts API's "the model failed, not the gateway"."""

    status_code = 421

    @classmethod
    def of(cls, upstream_status: int) -> ModelStatusError:
        try:
            reason = HTTPStatus(upstream_status).phrase
        except ValueError:
            reason = "Unknown Status"
        return cls(f"{upstream_status}: {reason}")
