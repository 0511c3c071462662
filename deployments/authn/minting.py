"""User access tokens for IDE direct connections (API.md §1.5, LATEST behaviour)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from core.errors import AuthorizationError, BadRequestError, GatewayError
from core.types import Identity, UserAccessToken, UserTokenGrant
from deployments.authn.claims import GLOBAL_USER_ID, INSTANCE_ID, REALM
from deployments.authn.keys import ALGORITHM, load_private_key

logger = logging.getLogger("aigw.auth")

LIFETIME_S = 3600
UNAUTHORIZED = "Unauthorized to create user access token"
FAILED = "Failed to generate JWT"
SAAS = "saas"
# Headers copied into the token's `extra` claims for SaaS callers (header -> claim).
SAAS_EXTRA_HEADERS = {
    "x-gitlab-project-id": "gitlab_project_id",
    "x-gitlab-namespace-id": "gitlab_namespace_id",
    "x-gitlab-root-namespace-id": "gitlab_root_namespace_id",
}


class MintingError(GatewayError):
    status_code = 500


def grant_for(identity: Identity, headers: Mapping[str, str], service: str) -> UserTokenGrant:
    """What the caller may have minted: `complete_code` (and the model-provider proxy if the
    caller holds it); tokens the gateway minted itself cannot mint more (403)."""
    if not identity.can("complete_code", disallowed_issuers=(service,)):
        raise AuthorizationError(UNAUTHORIZED)

    def pick(claim: str, header: str) -> str:
        value = claim or headers.get(header.lower(), "")
        if not value:
            raise BadRequestError(f"Missing {header} header")
        return value

    subject = pick("", GLOBAL_USER_ID)
    realm = pick(identity.realm, REALM)
    instance_id = pick(identity.instance_id, INSTANCE_ID)
    scopes = ["complete_code"]
    if identity.can("ai_gateway_model_provider_proxy", disallowed_issuers=(service,)):
        scopes.append("ai_gateway_model_provider_proxy")
    extra: dict[str, str] = {}
    if realm == SAAS:
        extra = {claim: headers[h] for h, claim in SAAS_EXTRA_HEADERS.items() if headers.get(h)}
    return UserTokenGrant(
        subject=subject,
        realm=realm,
        instance_id=instance_id,
        instance_uid="" if realm == SAAS else identity.instance_uid,
        scopes=tuple(scopes),
        duo_seat_count=identity.duo_seat_count,
        extra=extra,
    )


class TokenMinter:
    """Signs grants with AIGW_SELF_SIGNED_JWT__SIGNING_KEY (kid `<service>_signing_key`)."""

    def __init__(
        self, service: str, signing_pem: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.service = service
        self._clock = clock
        self._key: RSAPrivateKey | None = None
        if signing_pem.strip():
            try:
                self._key = load_private_key(signing_pem)
            except ValueError as exc:
                logger.error("AIGW_SELF_SIGNED_JWT__SIGNING_KEY is unusable: %s", exc)

    def mint(self, grant: UserTokenGrant) -> UserAccessToken:
        if self._key is None:
            logger.error("cannot mint a user access token: no usable signing key")
            raise MintingError(FAILED)
        now = int(self._clock())
        claims: dict[str, Any] = {
            "iss": self.service,
            "aud": self.service,
            "sub": grant.subject,
            "iat": now,
            "nbf": now,
            "exp": now + LIFETIME_S,
            "jti": str(uuid.uuid4()),
            "gitlab_realm": grant.realm,
            "gitlab_instance_id": grant.instance_id,
            "scopes": list(grant.scopes),
        }
        if grant.instance_uid:
            claims["gitlab_instance_uid"] = grant.instance_uid
        if grant.duo_seat_count:
            claims["duo_seat_count"] = grant.duo_seat_count
        if grant.extra:
            claims["extra"] = dict(grant.extra)
        try:
            token = jwt.encode(
                claims,
                self._key,
                algorithm=ALGORITHM,
                headers={"kid": f"{self.service}_signing_key"},
            )
        except Exception:
            logger.exception("signing a user access token failed")
            raise MintingError(FAILED) from None
        logger.info("minted a user access token: sub=%s jti=%s", grant.subject, claims["jti"])
        return UserAccessToken(token=token, expires_at=claims["exp"])
