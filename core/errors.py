"""Errors as a small hierarchy; the ingress maps each to the contract's status and body once
(DESIGN.md rule 9). They cross DeploymentHandles, so each pickles through its args."""

from __future__ import annotations

from http import HTTPStatus


class GatewayError(Exception):
    """Base of every error the gateway answers on purpose."""

    status_code = 500

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class AuthenticationError(GatewayError):
    """401 with body `{"error": message}` (API.md §2.4)."""

    status_code = 401


class AuthorizationError(GatewayError):
    """403 with body `{"detail": message}`."""

    status_code = 403


class PromptAccessDenied(AuthorizationError):
    """403 for a registry prompt; carries the unit primitive it needs, for the request's
    metrics and events (the prompt may have been looked up in another replica)."""

    def __init__(self, message: str = "", unit_primitive: str = "") -> None:
        super().__init__(message)
        self.unit_primitive = unit_primitive

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.message, self.unit_primitive))


class AuthProviderUnavailable(GatewayError):
    """No key set at all (no local key, every OIDC issuer down): upstream answers 500."""

    status_code = 500

    def __init__(self, message: str = "Internal server error") -> None:
        super().__init__(message)


class BadRequestError(GatewayError):
    status_code = 400


class UnprocessableError(GatewayError):
    status_code = 422


class NotFoundError(GatewayError):
    status_code = 404


class ModelError(GatewayError):
    """A model/provider failure: 503 `{"detail": "Inference failed"}` on the wire."""

    status_code = 503

    def __init__(self, message: str = "Inference failed", upstream_status: int | None = None):
        super().__init__(message)
        self.message = message
        self.upstream_status = upstream_status

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.message, self.upstream_status))


class ModelRateLimited(ModelError):
    """Upstream said 429; `Retry-After` is passed through when it gave one."""

    status_code = 429

    def __init__(self, message: str = "rate limited", retry_after: str | None = None):
        super().__init__(message, 429)
        self.retry_after = retry_after

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.message, self.retry_after))


class ModelTimeout(ModelError):
    """The model missed its first-byte or total deadline."""


class ModelUnavailable(ModelError):
    """No backend can serve the request right now."""


# Answers only the chat and prompts APIs give (serve_app/api/error_policy.py maps to them).


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
