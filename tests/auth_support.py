"""Claims, headers and settings for JWT tests: tokens shaped like the ones GitLab, CustomersDot
and the gateway itself issue (API.md §2.1)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.fakes.oidc import KeyPair, OidcIssuer

SERVICE = "gitlab-ai-gateway"
INSTANCE_ID = "5a9f7a3e-6d0c-4b4e-9a53-2a1c1d7c0b11"
USER_ID = "777"
DROP = object()  # a claim value that removes the claim


def claims(iss: str, **overrides: Any) -> dict[str, Any]:
    """An instance token for the caller `INSTANCE_ID` (self-managed), valid for an hour."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": iss,
        "aud": [SERVICE, "gitlab-duo-workflow-service"],
        "sub": INSTANCE_ID,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "jti": str(uuid.uuid4()),
        "gitlab_realm": "self-managed",
        "gitlab_instance_id": INSTANCE_ID,
        "scopes": ["complete_code", "generate_code", "duo_chat"],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not DROP}


def headers(token: str, **overrides: str) -> dict[str, str]:
    base = {
        "Authorization": f"Bearer {token}",
        "X-Gitlab-Authentication-Type": "oidc",
        "X-Gitlab-Realm": "self-managed",
        "X-Gitlab-Instance-Id": INSTANCE_ID,
        "X-Gitlab-Global-User-Id": USER_ID,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not DROP}


def jwt_settings(
    gitlab: OidcIssuer | None,
    customers: OidcIssuer | None,
    signing: KeyPair | None,
    validation: KeyPair | None,
    **auth: Any,
) -> dict[str, Any]:
    """Real JWT auth (no bypass) against the given issuers and self-signed keys."""
    return {
        "gitlab_url": gitlab.url if gitlab else "",
        "customer_portal_url": customers.url if customers else "",
        "self_signed_jwt": {
            "signing_key": signing.pem if signing else "",
            "validation_key": validation.pem if validation else "",
        },
        # 5 s: the issuers are local fakes in the test's own process, but on a loaded runner
        # (xdist on every core) their answer took over 1 s; tests of the timeout set their own.
        "auth": {"oidc_timeout_s": 5.0, "jwks_refresh_interval_s": 0.0, **auth},
    }
