"""Where verification keys come from (API.md §2.1): the gateway's own PEM keys and OIDC issuers.

A source answers `fetch(kid)` with public JWKs; `entries_from` turns them into key objects once,
so verifying a token never parses a key.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import RSAAlgorithm

from core.types import PublicJwk

logger = logging.getLogger("aigw.auth.keys")

ALGORITHM = "RS256"
DISCOVERY_PATH = "/.well-known/openid-configuration"
LOCAL_SOURCE = "local"


@dataclass(frozen=True, slots=True)
class KeyEntry:
    source: str
    kid: str
    key: Any  # cryptography RSAPublicKey


class KeySource(Protocol):
    name: str

    async def fetch(self, kid: str | None) -> list[PublicJwk]: ...


def entries_from(jwks: Iterable[PublicJwk]) -> list[KeyEntry]:
    """RSA signing keys as key objects; anything else (EC, encryption keys, junk) is skipped."""
    entries: list[KeyEntry] = []
    for item in jwks:
        jwk = item.jwk
        kid = str(jwk.get("kid", ""))
        if jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
            continue
        if jwk.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            key = jwt.PyJWK(jwk, algorithm=ALGORITHM).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
            logger.warning("skipping an unusable key from %s (kid %r): %s", item.source, kid, exc)
            continue
        entries.append(KeyEntry(source=item.source, kid=kid, key=key))
    return entries


@functools.lru_cache(maxsize=8)
def load_private_key(pem: str) -> RSAPrivateKey:
    """An RSA private key from PEM; ValueError (without the key's text) when it is not one.
    Cached: parsing checks the key, which costs milliseconds, and Auth and the minter share it."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError("not a PEM private key without a password") from exc
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def public_jwk(key: RSAPrivateKey, kid: str, source: str) -> PublicJwk:
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update({"kid": kid, "use": "sig", "alg": ALGORITHM})
    return PublicJwk(source=source, jwk=jwk)


class LocalKeySource:
    """Public halves of AIGW_SELF_SIGNED_JWT__SIGNING_KEY / __VALIDATION_KEY, kids
    `<service>_signing_key` and `<service>_validation_key` (the validation key keeps tokens
    signed with the previous key valid during rotation)."""

    name = LOCAL_SOURCE

    def __init__(self, service_name: str, signing_pem: str, validation_pem: str) -> None:
        self._jwks: list[PublicJwk] = []
        for role, pem in (("signing_key", signing_pem), ("validation_key", validation_pem)):
            if not pem.strip():
                continue
            try:
                key = load_private_key(pem)
            except ValueError as exc:
                logger.error("AIGW_SELF_SIGNED_JWT__%s is unusable: %s", role.upper(), exc)
                continue
            self._jwks.append(public_jwk(key, f"{service_name}_{role}", self.name))

    async def fetch(self, kid: str | None) -> list[PublicJwk]:
        return list(self._jwks)


class OidcKeySource:
    """`<base>/.well-known/openid-configuration` -> `jwks_uri` -> keys, bounded by `timeout_s`."""

    def __init__(self, name: str, base_url: str, timeout_s: float) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    async def fetch(self, kid: str | None) -> list[PublicJwk]:
        async with asyncio.timeout(self.timeout_s):
            async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=True) as client:
                discovery = await client.get(self.base_url + DISCOVERY_PATH)
                discovery.raise_for_status()
                jwks_uri = discovery.json().get("jwks_uri")
                if not isinstance(jwks_uri, str) or not jwks_uri:
                    raise ValueError("discovery document has no jwks_uri")
                response = await client.get(jwks_uri)
                response.raise_for_status()
                keys = response.json().get("keys")
        if not isinstance(keys, list):
            raise ValueError("JWKS document has no keys list")
        return [PublicJwk(source=self.name, jwk=k) for k in keys if isinstance(k, dict)]
