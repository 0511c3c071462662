"""Errors as a small hierarchy; the ingress maps each to the contract's status and body once
(DESIGN.md rule 9). They cross DeploymentHandles, so each pickles through its args."""

from __future__ import annotations

import re
from datetime import UTC
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus

_DELTA_SECONDS = re.compile(r"[0-9]{1,10}")


def clean_retry_after(value: str | None) -> str | None:
    """An upstream `Retry-After` fit to hand to our client (RFC 9110 §10.2.3): delta-seconds as
    they are, an HTTP date rewritten in its one canonical form; anything else is None, so a
    provider (or whatever sits in front of it) cannot put its own text in our response."""
    value = (value or "").strip()
    if not value or len(value) > 64:
        return None
    if _DELTA_SECONDS.fullmatch(value):
        return value
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:  # "-0000" or no zone: RFC 5322 says UTC
            when = when.replace(tzinfo=UTC)
        return format_datetime(when.astimezone(UTC), usegmt=True)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


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


class ContentTooLarge(GatewayError):
    """413: a request body over the edge's limit (`AIGW_LIMITS__MAX_BODY_BYTES`)."""

    status_code = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"Content Too Large: the request body exceeds {limit} bytes")
        self.limit = limit

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.limit,))


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
    """Upstream said 429; its `Retry-After` is passed through when it gave a valid one (checked
    here, so no backend and no answer built from this error can carry another)."""

    status_code = 429

    def __init__(self, message: str = "rate limited", retry_after: str | None = None):
        super().__init__(message, 429)
        self.retry_after = clean_retry_after(retry_after)

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


class AdmissionRefusal(GatewayError):
    """A request our own admission control refused: the rule, and when to come back."""

    def __init__(self, message: str = "", rule: str = "", retry_after: int = 1) -> None:
        super().__init__(message)
        self.rule = rule
        self.retry_after = max(1, retry_after)
        self.headers: dict[str, str] = {}  # RateLimit-Policy / RateLimit of the request

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.message, self.rule, self.retry_after))


class RateLimitExceeded(AdmissionRefusal):
    """429: the rule's budget is spent; `retry_after` is the seconds left in its window."""

    status_code = 429


class AdmissionUnavailable(AdmissionRefusal):
    """503: a rule that fails closed could not reach the shared limit store in time."""

    status_code = 503
