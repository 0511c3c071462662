"""Headers -> Identity (API.md §2): bypass flags, bearer checks, decision cache, JWT verification.

The same class runs in the ingress replica whether Auth is in-process or its own deployment;
only its KeyStore's source differs (the issuers themselves, or the Auth deployment).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Callable, Mapping

from core.errors import AuthenticationError, AuthProviderUnavailable
from core.settings import AuthServiceSettings
from core.types import Identity
from deployments.authn import verifier
from deployments.authn.cache import DecisionCache
from deployments.authn.claims import CHECKED_HEADERS, GLOBAL_USER_ID, identity_from
from deployments.authn.keys import KeyEntry
from deployments.authn.loud import EveryInterval
from deployments.authn.store import KeyStore

logger = logging.getLogger("aigw.auth")

NO_HEADER = "No authorization header presented"
BAD_SCHEME = "Invalid authorization header"
BAD_TYPE = "Invalid authentication token type - only OIDC is supported"
FORBIDDEN = "Forbidden by auth provider"


def bearer_token(headers: Mapping[str, str]) -> str:
    authorization = headers.get("authorization")
    if not authorization:
        raise AuthenticationError(NO_HEADER)
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError(BAD_SCHEME)
    if headers.get("x-gitlab-authentication-type", "").lower() != "oidc":
        raise AuthenticationError(BAD_TYPE)
    return token.strip()


class Authenticator:
    def __init__(
        self,
        settings: AuthServiceSettings,
        store: KeyStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        auth = settings.auth
        self.service = settings.service_name
        self.bypass_external = auth.bypass_external
        self.bypass_with_header = auth.bypass_external_with_header
        self.bypass_signature = auth.bypass_jwt_signature
        self.store = store
        self.cache = DecisionCache(auth.decision_cache_size, auth.decision_cache_ttl_s, clock)
        self.verified = 0  # tokens verified (cache misses that passed), for stats and tests
        which = "" if self.bypass_external else "_WITH_HEADER"
        self._bypassed = EveryInterval(
            logger,
            "Auth is bypassed: request served as a debug user with every unit primitive "
            f"(AIGW_AUTH__BYPASS_EXTERNAL{which})",
        )
        self._unsigned = EveryInterval(
            logger,
            "JWT signatures are not verified (AIGW_AUTH__BYPASS_JWT_SIGNATURE): "
            "anyone can forge a token",
        )

    async def authenticate(self, headers: Mapping[str, str]) -> Identity:
        if self.bypass_external or (
            self.bypass_with_header and headers.get("bypass-auth", "").lower() == "true"
        ):
            self._bypassed.note()
            return _debug_user(headers.get(GLOBAL_USER_ID.lower(), ""))
        token = bearer_token(headers)
        if self.bypass_signature:
            self._unsigned.note()
        digest = hashlib.sha256(token.encode()).digest()
        key = (digest, *(headers.get(name, "") for name in CHECKED_HEADERS))
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        identity = await self._verify(token, headers)
        self.cache.put(key, identity, identity.expires_at)
        return identity

    async def _verify(self, token: str, headers: Mapping[str, str]) -> Identity:
        kid: str | None = None
        try:
            header = verifier.peek(token, require_rs256=not self.bypass_signature)
            kid = header.kid
            if self.bypass_signature:
                claims = verifier.decode_unverified(token, self.service)
                source = "unverified"
            else:
                claims, entry = verifier.decode(token, await self._keys(kid), self.service)
                source = entry.source
            identity = identity_from(claims, headers, self.service, kid or "")
        except verifier.Rejected as exc:
            self._log_rejection(token, kid, exc.reason)
            raise AuthenticationError(FORBIDDEN) from None
        except AuthenticationError as exc:
            self._log_rejection(token, kid, exc.message)
            raise
        self.verified += 1
        logger.info(
            "JWT accepted: issuer=%s kid=%s key_source=%s token=%s",
            identity.issuer,
            kid,
            source,
            verifier.token_hash(token),
            extra={"issuer": identity.issuer, "kid": kid, "token_hash": verifier.token_hash(token)},
        )
        return identity

    async def _keys(self, kid: str | None) -> tuple[KeyEntry, ...]:
        self.store.refresh_stale()
        entries = self.store.lookup(kid)
        if not entries:
            entries = await self.store.find(kid)
        if not entries and self.store.empty:
            logger.critical("no JWT verification keys at all: are the OIDC providers up?")
            raise AuthProviderUnavailable()
        if not entries:
            # As upstream's python-jose, which matches signatures against the whole key set: a
            # kid no issuer names (after the re-fetch above) is tried against every key.
            entries = self.store.lookup(None)
        return entries

    def _log_rejection(self, token: str, kid: str | None, reason: str) -> None:
        issuer = verifier.unverified_issuer(token)
        kid = kid[:100] if kid else kid
        digest = verifier.token_hash(token)
        logger.warning(
            "JWT rejected (%s): issuer=%r kid=%r token=%s",  # %r: both are untrusted input
            reason,
            issuer,
            kid,
            digest,
            extra={"issuer": issuer, "kid": kid, "token_hash": digest},
        )


@functools.lru_cache(maxsize=4096)
def _debug_user(global_user_id: str) -> Identity:
    """The bypass's identity for a user id: one (frozen) object per id, as the decision cache
    shares a verified token's, instead of one model built per request."""
    return Identity(bypass=True, global_user_id=global_user_id)
