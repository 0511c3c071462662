"""The "auth on (valid token) vs bypass" bench scenario: settings and headers for real JWT auth.

    overrides, headers = auth_setup()
    build_app({"settings": {"mock_model_responses": True, **overrides}})   # e.g. at /auth
    measure("gateway with JWT auth", f"{base}/auth/v2/code/completions", v2_body(), c, n, headers)

The token is a real RS256 instance token (the shape CustomersDot issues) signed with a key
generated here and configured as the gateway's self-signed key, so no OIDC issuer is needed:
the first request verifies the signature, later ones hit the decision cache (DESIGN.md rule 5),
as a client that reuses its token does. OIDC discovery is switched off (empty URLs).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SERVICE = "gitlab-ai-gateway"
INSTANCE_ID = "5a9f7a3e-6d0c-4b4e-9a53-2a1c1d7c0b11"


def auth_setup(
    lifetime_s: int = 6 * 3600, service: str = SERVICE
) -> tuple[dict[str, Any], dict[str, str]]:
    """(settings overrides with JWT auth on, request headers carrying a valid token)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    now = int(time.time())
    claims = {
        "iss": "https://customers.example.test",
        "aud": [service],
        "sub": INSTANCE_ID,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime_s,
        "jti": str(uuid.uuid4()),
        "gitlab_realm": "self-managed",
        "gitlab_instance_id": INSTANCE_ID,
        "scopes": ["complete_code", "generate_code"],
    }
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": f"{service}_signing_key"})
    overrides: dict[str, Any] = {
        "gitlab_url": "",
        "customer_portal_url": "",
        "cloud_connector_service_name": service,
        "self_signed_jwt": {"signing_key": pem},
        "auth": {
            "bypass_external": False,
            "bypass_external_with_header": False,
            "bypass_jwt_signature": False,
        },
    }
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Gitlab-Authentication-Type": "oidc",
        "X-Gitlab-Realm": "self-managed",
        "X-Gitlab-Instance-Id": INSTANCE_ID,
        "X-Gitlab-Global-User-Id": "777",
    }
    return overrides, headers
