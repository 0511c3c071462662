"""Decoded claims -> Identity, with the header <-> claim consistency rules of API.md §2.2."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from core.errors import AuthenticationError
from core.types import Identity

logger = logging.getLogger("aigw.auth")

REALM = "X-Gitlab-Realm"
INSTANCE_ID = "X-Gitlab-Instance-Id"
GLOBAL_USER_ID = "X-Gitlab-Global-User-Id"
DUO_SEAT_COUNT = "X-Gitlab-Duo-Seat-Count"

# The headers whose values decide the outcome: they are part of the decision cache's key.
CHECKED_HEADERS = tuple(h.lower() for h in (REALM, INSTANCE_ID, GLOBAL_USER_ID))


def mismatch(header: str) -> AuthenticationError:
    return AuthenticationError(f"Header mismatch '{header}'")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def check_headers(claims: Mapping[str, Any], headers: Mapping[str, str], service: str) -> None:
    """Each rule applies only when its claim is non-empty (header names are lower-cased)."""
    realm = _text(claims.get("gitlab_realm"))
    if realm and headers.get(REALM.lower(), "") != realm:
        raise mismatch(REALM)
    instance_id = _text(claims.get("gitlab_instance_id"))
    if instance_id and headers.get(INSTANCE_ID.lower(), "") != instance_id:
        raise mismatch(INSTANCE_ID)
    subject = _text(claims.get("sub"))
    if subject:
        header = GLOBAL_USER_ID if _text(claims.get("iss")) == service else INSTANCE_ID
        if headers.get(header.lower(), "") != subject:
            raise mismatch(header)
    seats = _text(claims.get("duo_seat_count"))
    if seats and headers.get(DUO_SEAT_COUNT.lower(), seats) != seats:
        logger.info("header %s does not match the token's duo_seat_count", DUO_SEAT_COUNT)


def identity_from(
    claims: Mapping[str, Any], headers: Mapping[str, str], service: str, key_id: str
) -> Identity:
    check_headers(claims, headers, service)
    scopes = claims.get("scopes")
    extra = claims.get("extra")
    return Identity(
        issuer=_text(claims.get("iss")),
        subject=_text(claims.get("sub")),
        realm=_text(claims.get("gitlab_realm")),
        instance_id=_text(claims.get("gitlab_instance_id")),
        instance_uid=_text(claims.get("gitlab_instance_uid")),
        global_user_id=headers.get(GLOBAL_USER_ID.lower(), ""),
        scopes=tuple(str(s) for s in scopes) if isinstance(scopes, list) else (),
        duo_seat_count=_text(claims.get("duo_seat_count")),
        key_id=key_id,
        expires_at=int(claims.get("exp", 0)),
        extra=dict(extra) if isinstance(extra, dict) else {},
    )
