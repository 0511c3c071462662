"""`POST /v1/code/user_access_token` (API.md §1.5): what Rails asks for and what the IDE gets."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from tests.auth_support import DROP, INSTANCE_ID, SERVICE, USER_ID, claims, headers
from tests.payloads import v2_body
from tests.unit.auth.test_jwt_negative import post

PATH = "/v1/code/user_access_token"
PROXY = "ai_gateway_model_provider_proxy"


def mint(client, token: str, **hdrs: str):
    return client.post(PATH, headers=headers(token, **hdrs))


def decode(token: str, signing) -> dict:
    return jwt.decode(token, signing.private.public_key(), algorithms=["RS256"], audience=SERVICE)


def test_minted_token_has_the_contract_claims(client, customers, signing):
    caller = customers.sign(
        claims(customers.url, gitlab_instance_uid="uid-42", duo_seat_count="33")
    )
    before = int(time.time())
    r = mint(client, caller)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"token", "expires_at"}
    assert jwt.get_unverified_header(body["token"]) == {
        "alg": "RS256",
        "typ": "JWT",
        "kid": f"{SERVICE}_signing_key",
    }
    minted = decode(body["token"], signing)
    assert minted["iss"] == SERVICE and minted["aud"] == SERVICE
    assert minted["sub"] == USER_ID
    assert minted["gitlab_realm"] == "self-managed"
    assert minted["gitlab_instance_id"] == INSTANCE_ID
    assert minted["gitlab_instance_uid"] == "uid-42"
    assert minted["duo_seat_count"] == "33"
    assert minted["scopes"] == ["complete_code"]
    assert minted["exp"] == body["expires_at"] == minted["iat"] + 3600
    assert before <= minted["iat"] <= int(time.time()) and minted["nbf"] == minted["iat"]
    uuid.UUID(minted["jti"])
    assert "extra" not in minted  # project/namespace ids are only copied for SaaS


def test_saas_caller_gets_project_and_namespace_ids(client, gitlab, signing):
    caller = gitlab.sign(claims(gitlab.url, gitlab_realm="saas", gitlab_instance_uid="uid-1"))
    r = mint(
        client,
        caller,
        **{
            "X-Gitlab-Realm": "saas",
            "X-Gitlab-Project-Id": "278964",
            "X-Gitlab-Namespace-Id": "9970",
            "x-gitlab-root-namespace-id": "9970",
        },
    )
    assert r.status_code == 200, r.text
    minted = decode(r.json()["token"], signing)
    assert minted["extra"] == {
        "gitlab_project_id": "278964",
        "gitlab_namespace_id": "9970",
        "gitlab_root_namespace_id": "9970",
    }
    assert "gitlab_instance_uid" not in minted


def test_model_provider_proxy_scope_is_passed_on(client, customers, signing):
    caller = customers.sign(claims(customers.url, scopes=["complete_code", PROXY, "duo_chat"]))
    minted = decode(mint(client, caller).json()["token"], signing)
    assert minted["scopes"] == ["complete_code", PROXY]


def test_round_trip_minted_token_serves_v2_completions_only(client, customers):
    minted = mint(client, customers.sign(claims(customers.url))).json()["token"]
    assert post(client, minted, "/v2/completions").status_code == 200
    assert post(client, minted, "/v2/code/completions").status_code == 200
    r = post(client, minted, "/v2/code/generations")
    assert r.status_code == 403
    assert r.json() == {"detail": "Unauthorized to access code generations"}
    r = post(client, minted, **{"X-Gitlab-Global-User-Id": "someone-else"})
    assert r.json() == {"error": "Header mismatch 'X-Gitlab-Global-User-Id'"}
    # An IDE token cannot mint another one.
    r = mint(client, minted)
    assert r.status_code == 403
    assert r.json() == {"detail": "Unauthorized to create user access token"}


def test_minted_token_survives_signing_key_rotation(jwt_client, customers, signing, validation):
    """Yearly rotation: the old signing key becomes the validation key; old tokens stay valid."""
    old_gateway = jwt_client(self_signed_jwt={"signing_key": validation.pem, "validation_key": ""})
    minted = mint(old_gateway, customers.sign(claims(customers.url))).json()["token"]
    new_gateway = jwt_client()  # signing = new key, validation = the old one
    assert post(new_gateway, minted).status_code == 200
    only_new = jwt_client(self_signed_jwt={"signing_key": signing.pem, "validation_key": ""})
    assert post(only_new, minted).json() == {"error": "Forbidden by auth provider"}


def test_caller_without_complete_code_is_403(client, customers):
    r = mint(client, customers.sign(claims(customers.url, scopes=["duo_chat"])))
    assert r.status_code == 403
    assert r.json() == {"detail": "Unauthorized to create user access token"}


@pytest.mark.parametrize(
    ("missing", "claim_overrides"),
    [
        ("X-Gitlab-Global-User-Id", {}),
        ("X-Gitlab-Realm", {"gitlab_realm": DROP}),
        ("X-Gitlab-Instance-Id", {"gitlab_instance_id": DROP, "sub": DROP}),
    ],
)
def test_missing_identity_is_400(client, customers, missing, claim_overrides):
    r = mint(client, customers.sign(claims(customers.url, **claim_overrides)), **{missing: DROP})
    assert r.status_code == 400
    assert r.json() == {"detail": f"Missing {missing} header"}


def test_no_signing_key_is_500(jwt_client, customers):
    client = jwt_client(self_signed_jwt={"signing_key": "", "validation_key": ""})
    r = mint(client, customers.sign(claims(customers.url)))
    assert r.status_code == 500
    assert r.json() == {"detail": "Failed to generate JWT"}


def test_needs_a_token(client):
    r = client.post(PATH)
    assert r.status_code == 401 and r.json() == {"error": "No authorization header presented"}


def test_bypass_user_can_mint(jwt_client, signing):
    client = jwt_client(auth={"bypass_external": True})
    r = client.post(
        PATH,
        headers={
            "X-Gitlab-Global-User-Id": USER_ID,
            "X-Gitlab-Realm": "self-managed",
            "X-Gitlab-Instance-Id": INSTANCE_ID,
        },
    )
    assert r.status_code == 200
    assert decode(r.json()["token"], signing)["sub"] == USER_ID
    r = client.post(PATH, json=v2_body(), headers={"X-Gitlab-Realm": "saas"})
    assert r.status_code == 400
