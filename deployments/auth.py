"""Auth: request headers -> Identity, or the contract's 401 (API.md §2).

The plain `AuthService` runs in the ingress replica by default, or as its own deployment.
JWT validation against the merged key set is filled in by `deployments.jwt_keys`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from deployments.errors import AuthenticationError
from deployments.types import Identity
from serve_app.settings import Config

logger = logging.getLogger("aigw.auth")

NO_HEADER = "No authorization header presented"
BAD_SCHEME = "Invalid authorization header"
BAD_TYPE = "Invalid authentication token type - only OIDC is supported"
FORBIDDEN = "Forbidden by auth provider"


class AuthService:
    """Turns headers (lower-cased names) into an Identity; raises AuthenticationError."""

    def __init__(self, settings: Config) -> None:
        self.service_name = settings.cloud_connector_service_name
        self.bypass_external = settings.auth.bypass_external
        self.bypass_with_header = settings.auth.bypass_external_with_header
        self.bypass_signature = settings.auth.bypass_jwt_signature

    async def check(self) -> bool:
        return True

    async def authenticate(self, headers: Mapping[str, str]) -> Identity:
        if self.bypass_external or (
            self.bypass_with_header and headers.get("bypass-auth", "").lower() == "true"
        ):
            logger.critical(
                "Auth is bypassed: request served as a debug user with every unit primitive "
                "(AIGW_AUTH__BYPASS_EXTERNAL%s)",
                "" if self.bypass_external else "_WITH_HEADER",
            )
            return Identity(bypass=True, global_user_id=headers.get("x-gitlab-global-user-id", ""))
        token = self.bearer_token(headers)
        return await self.verify_token(token, headers)

    @staticmethod
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

    async def verify_token(self, token: str, headers: Mapping[str, str]) -> Identity:
        """Validate the JWT against the merged key set (no key set is configured yet)."""
        raise AuthenticationError(FORBIDDEN)
