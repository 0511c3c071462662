"""What handlers read from a request: what the app was built with (gateway, API settings,
proxy), and what middleware found (identity, correlation id, feature flags)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request

from core.errors import AuthorizationError
from core.settings import ApiSettings
from core.types import Identity
from observability.record import RequestRecord
from serve_app.gateway import Gateway
from serve_app.proxy.forwarder import ProviderProxy


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def settings_of(request: Request) -> ApiSettings:
    """The HTTP layer's settings (`Config.api()`): handlers read no other configuration."""
    settings: ApiSettings = request.app.state.api_settings
    return settings


def proxy_of(request: Request) -> ProviderProxy:
    proxy: ProviderProxy = request.app.state.proxy
    return proxy


def identity_of(request: Request) -> Identity:
    identity: Identity = request.state.identity
    return identity


def correlation_id_of(request: Request) -> str:
    """`X-Request-ID`, echoed or minted by the middleware."""
    return str(getattr(request.state, "correlation_id", ""))


def record_of(request: Request) -> RequestRecord | None:
    """The request's record (metrics labels, stage timers, the access log), which the
    observability middleware put there; None for an app built without it."""
    record: RequestRecord | None = getattr(request.state, "record", None)
    return record


def require(
    request: Request, unit_primitive: str, message: str, disallowed_issuers: Sequence[str] = ()
) -> Identity:
    identity = identity_of(request)
    record = record_of(request)
    if record is not None:
        record.authorized(unit_primitive)
    if not identity.can(unit_primitive, disallowed_issuers):
        raise AuthorizationError(message)
    return identity


def enabled_feature_flags(request: Request) -> list[str]:
    """`x-gitlab-enabled-feature-flags`, less the flags disallowed for the caller's realm."""
    raw = request.headers.get("x-gitlab-enabled-feature-flags", "")
    flags = [flag.strip() for flag in raw.split(",") if flag.strip()]
    if not flags:
        return []
    realm = request.headers.get("x-gitlab-realm", "")
    disallowed = set(settings_of(request).disallowed_flags.get(realm, []))
    return [flag for flag in flags if flag not in disallowed]


def version_at_least(version: str | None, minimum: tuple[int, ...]) -> bool:
    if not version:
        return False
    parts: list[int] = []
    core, _, pre_release = version.strip().lstrip("vV").partition("-")
    for piece in core.split("."):
        digits = piece[: len(piece) - len(piece.lstrip("0123456789"))]  # leading digits
        if not digits:
            break
        parts.append(int(digits))
    if pre_release and tuple(parts) == minimum:
        return False  # 7.17.1-rc1 comes before 7.17.1
    return tuple(parts) >= minimum


def session_affinity(request: Request) -> str:
    """`X-Gitlab-Global-User-Id`, which upstream hands Fireworks as `x-session-affinity`; ""
    when absent or not a plain ASCII token (it goes out as a header of ours)."""
    value = request.headers.get("x-gitlab-global-user-id", "").strip()
    return value if value.isascii() and value.isprintable() and len(value) <= 255 else ""


def prompt_cache_enabled(request: Request) -> bool:
    """`X-Gitlab-Model-Prompt-Cache-Enabled` (API.md §1.3, §2.7): on unless it says `false`."""
    return request.headers.get("x-gitlab-model-prompt-cache-enabled", "true").lower() != "false"
