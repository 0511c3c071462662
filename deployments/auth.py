"""Auth: request headers -> Identity, or the contract's 401 (API.md §2); token minting (§1.5).

The plain `AuthService` runs in the ingress replica by default, or as its own deployment. It
owns the merged key set (the gateway's own keys plus OIDC discovery of GitLab and CustomersDot),
cached for 24 h and re-fetched, rate-limited, on an unknown kid. When it is its own deployment
the ingress still verifies tokens itself with the key set `key_set` hands out (DESIGN.md rule 5).
"""

from __future__ import annotations

from collections.abc import Mapping

from core.settings import AuthServiceSettings
from core.types import (
    AuthStats,
    Identity,
    KeySetSnapshot,
    UserAccessToken,
    UserTokenGrant,
)
from deployments.authn.authenticator import (
    BAD_SCHEME,
    BAD_TYPE,
    FORBIDDEN,
    NO_HEADER,
    Authenticator,
    bearer_token,
)
from deployments.authn.keys import KeySource, LocalKeySource, OidcKeySource
from deployments.authn.minting import TokenMinter
from deployments.authn.store import KeyStore

__all__ = ["BAD_SCHEME", "BAD_TYPE", "FORBIDDEN", "NO_HEADER", "AuthService", "key_sources"]


def key_sources(settings: AuthServiceSettings) -> list[KeySource]:
    """The gateway's own keys, then GitLab and CustomersDot OIDC (each skipped when unset)."""
    service = settings.service_name
    jwt_keys = settings.self_signed_jwt
    sources: list[KeySource] = [
        LocalKeySource(
            service,
            jwt_keys.signing_key.get_secret_value(),
            jwt_keys.validation_key.get_secret_value(),
        )
    ]
    timeout = settings.auth.oidc_timeout_s
    for name, url in (
        ("Gitlab", settings.gitlab_url),
        ("CustomersDot", settings.customer_portal_url),
    ):
        if url.strip():
            sources.append(OidcKeySource(name, url, timeout))
    return sources


class AuthService:
    """Turns headers (lower-cased names) into an Identity; raises AuthenticationError."""

    def __init__(self, settings: AuthServiceSettings) -> None:
        self.service_name = settings.service_name
        self.store = KeyStore(
            key_sources(settings),
            ttl_s=settings.auth.jwks_cache_ttl_s,
            min_interval_s=settings.auth.jwks_refresh_interval_s,
        )
        self.authenticator = Authenticator(settings, self.store)
        # Under Serve the replica's loop is running: fetch the issuers before traffic arrives.
        # (An ingress holding Auth remotely does not prefetch: its first unknown kid asks Auth,
        # which answers as soon as one issuer has it, however slow the others are.)
        if not settings.auth.bypass_external:  # then no token is ever verified
            self.store.prefetch()
        self.minter = TokenMinter(
            self.service_name, settings.self_signed_jwt.signing_key.get_secret_value()
        )
        self.key_set_requests = 0

    async def check(self) -> bool:
        return True

    async def authenticate(self, headers: Mapping[str, str]) -> Identity:
        return await self.authenticator.authenticate(headers)

    bearer_token = staticmethod(bearer_token)

    async def key_set(self, kid: str | None = None) -> KeySetSnapshot:
        """The merged public key set, after looking for `kid` if it is not known yet."""
        self.key_set_requests += 1
        self.store.refresh_stale()
        if self.store.empty if kid is None else not self.store.lookup(kid):
            await self.store.find(kid)
        return self.store.snapshot()

    async def mint_user_token(self, grant: UserTokenGrant) -> UserAccessToken:
        return self.minter.mint(grant)

    async def stats(self) -> AuthStats:
        """Counters for operators and tests: how often the ingress asked for keys, etc."""
        return AuthStats(
            key_set_requests=self.key_set_requests,
            source_fetches=self.store.fetches,
            tokens_verified=self.authenticator.verified,
        )
