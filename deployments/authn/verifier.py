"""JWT decoding with PyJWT: RS256 only, `aud` = the service name, `exp`/`nbf` checked."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.types import Options

from deployments.authn.keys import ALGORITHM, KeyEntry

REQUIRED_CLAIMS = ["exp", "aud"]
# Only `exp` and `nbf` are time checks (API.md §2.2, as upstream's python-jose): PyJWT would
# also refuse an `iat` a second ahead of our clock, a 401 whenever GitLab's clock runs ahead.
OPTIONS: Options = {"require": REQUIRED_CLAIMS, "verify_iat": False}


class Rejected(Exception):
    """The token is not acceptable; `reason` is for logs (never the token itself)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def token_hash(token: str) -> str:
    """A short, non-reversible name for a token in logs."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class TokenHeader:
    kid: str | None
    alg: str


def peek(token: str, *, require_rs256: bool = True) -> TokenHeader:
    """The unverified JOSE header; anything but RS256 is refused before any key is looked up."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Rejected(f"malformed token: {exc}") from None
    alg, kid = header.get("alg"), header.get("kid")
    if require_rs256 and alg != ALGORITHM:
        raise Rejected(f"algorithm {alg!r} is not allowed")
    if kid is not None and not isinstance(kid, str):
        raise Rejected("kid is not a string")
    return TokenHeader(kid=kid, alg=str(alg))


def unverified_issuer(token: str) -> str:
    """`iss` for logging only: never trust it."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return ""
    return str(claims.get("iss", ""))[:200]


def decode(
    token: str, entries: Sequence[KeyEntry], audience: str
) -> tuple[dict[str, Any], KeyEntry]:
    """Claims of a token whose signature one of `entries` verifies; Rejected otherwise."""
    last: str = "no key for the token"
    for entry in entries:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                entry.key,
                algorithms=[ALGORITHM],
                audience=audience,
                options=OPTIONS,
            )
        except jwt.InvalidSignatureError:
            last = "signature does not verify"
            continue
        except jwt.PyJWTError as exc:
            raise Rejected(f"{type(exc).__name__}: {exc}") from None
        return claims, entry
    raise Rejected(last)


def decode_unverified(token: str, audience: str) -> dict[str, Any]:
    """AIGW_AUTH__BYPASS_JWT_SIGNATURE: no signature check, but audience and times still are."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            audience=audience,
            options={
                **OPTIONS,
                "verify_signature": False,
                "verify_aud": True,
                "verify_exp": True,
                "verify_nbf": True,
            },
        )
    except jwt.PyJWTError as exc:
        raise Rejected(f"{type(exc).__name__}: {exc}") from None
    return claims
