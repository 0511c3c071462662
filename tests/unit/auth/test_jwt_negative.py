"""Every way a token can be wrong gets the contract's status and exact body (API.md §2.4, §2.3)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from tests.auth_support import DROP, INSTANCE_ID, SERVICE, USER_ID, claims, headers
from tests.fakes.oidc import KeyPair
from tests.payloads import v2_body, v3_body

FORBIDDEN = {"error": "Forbidden by auth provider"}
BAD_TYPE = "Invalid authentication token type - only OIDC is supported"
NO_COMPLETIONS = "Unauthorized to access code completions"
NO_GENERATIONS = "Unauthorized to access code generations"
NO_SUGGESTIONS = "Unauthorized to access code suggestions"
COMPLETIONS = "/v2/code/completions"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(obj: dict[str, Any]) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def post(client, token: str, path: str = COMPLETIONS, body: Any = None, **hdrs: str):
    return client.post(path, json=body or v2_body(), headers=headers(token, **hdrs))


@pytest.mark.parametrize(
    ("hdrs", "message"),
    [
        ({}, "No authorization header presented"),
        ({"Authorization": "Basic dXNlcjpwdw=="}, "Invalid authorization header"),
        ({"Authorization": "Token abc"}, "Invalid authorization header"),
        ({"Authorization": "Bearer "}, "Invalid authorization header"),
        (
            {"Authorization": "Bearer abc", "X-Gitlab-Authentication-Type": "saml"},
            BAD_TYPE,
        ),
        ({"Authorization": "Bearer abc"}, BAD_TYPE),
    ],
)
def test_header_shape_errors(client, hdrs, message):
    r = client.post(COMPLETIONS, json=v2_body(), headers=hdrs)
    assert r.status_code == 401
    assert r.json() == {"error": message}


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"exp": -60}, id="expired"),  # seconds from now, when the test runs
        pytest.param({"nbf": 600}, id="nbf-in-future"),
        pytest.param({"aud": "someone-else"}, id="wrong-aud"),
        pytest.param({"aud": DROP}, id="no-aud"),
        pytest.param({"exp": DROP}, id="no-exp"),
    ],
)
def test_claim_failures_are_forbidden(client, gitlab, overrides):
    # Times are taken at run time: a whole `make test` outlasts a margin taken at collection.
    now = int(time.time())
    at_run = {
        k: now + v if type(v) is int and k in ("exp", "nbf") else v for k, v in overrides.items()
    }
    r = post(client, gitlab.sign(claims(gitlab.url, **at_run)))
    assert r.status_code == 401
    assert r.json() == FORBIDDEN


def test_alg_none_is_forbidden(client, gitlab):
    token = jwt.encode(claims(gitlab.url), None, algorithm="none", headers={"kid": gitlab.key.kid})
    assert post(client, token).json() == FORBIDDEN


def test_hs256_signed_with_the_public_key_is_forbidden(client, gitlab):
    """The classic RS/HS confusion: the public key as an HMAC secret must not verify."""
    key = gitlab.key
    signing_input = (
        segment({"alg": "HS256", "typ": "JWT", "kid": key.kid}) + "." + segment(claims(gitlab.url))
    )
    for secret in (key.public_pem, json.dumps(key.jwk()).encode()):
        sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        r = post(client, f"{signing_input}.{b64(sig)}")
        assert r.status_code == 401 and r.json() == FORBIDDEN


def test_tampered_payload_is_forbidden(client, gitlab):
    token = gitlab.sign(claims(gitlab.url, scopes=["complete_code"]))
    assert post(client, token).status_code == 200
    head, _, sig = token.split(".")
    more = segment(claims(gitlab.url, scopes=["complete_code", "generate_code"]))
    forged = f"{head}.{more}.{sig}"
    assert post(client, forged).json() == FORBIDDEN
    assert post(client, f"{head}.{_}.{sig[:-4]}AAAA").json() == FORBIDDEN  # tampered signature


def test_garbage_tokens_are_forbidden(client):
    for token in ("abc", "a.b.c", "e30.e30.", "..."):
        r = post(client, token)
        assert r.status_code == 401 and r.json() == FORBIDDEN


def test_unknown_kid_is_forbidden_and_re_fetches_rate_limited(jwt_client, gitlab, customers):
    client = jwt_client(auth={"jwks_refresh_interval_s": 60})
    assert post(client, gitlab.sign(claims(gitlab.url))).status_code == 200
    wait_until(lambda: customers.jwks_hits == 1)  # its first fetch finishes in the background
    hits = gitlab.jwks_hits, customers.jwks_hits
    stranger = KeyPair()  # signs with a key no issuer publishes
    for _ in range(5):
        r = post(client, stranger.sign(claims(gitlab.url)))
        assert r.status_code == 401 and r.json() == FORBIDDEN
    # Within the rate-limit interval the issuers were not asked again, however many bad kids.
    assert (gitlab.jwks_hits, customers.jwks_hits) == hits


def test_unknown_kid_triggers_one_re_fetch(client, gitlab, customers):
    assert post(client, gitlab.sign(claims(gitlab.url))).status_code == 200
    before = gitlab.jwks_hits
    assert post(client, KeyPair().sign(claims(gitlab.url))).json() == FORBIDDEN
    assert gitlab.jwks_hits == before + 1


def test_token_signed_by_one_issuer_with_the_others_kid_is_forbidden(client, gitlab, customers):
    token = customers.key.sign(claims(customers.url), kid=gitlab.key.kid)
    assert post(client, token).json() == FORBIDDEN


@pytest.mark.parametrize(
    ("hdrs", "header"),
    [
        ({"X-Gitlab-Realm": "saas"}, "X-Gitlab-Realm"),
        ({"X-Gitlab-Realm": DROP}, "X-Gitlab-Realm"),
        ({"X-Gitlab-Instance-Id": "other-instance"}, "X-Gitlab-Instance-Id"),
        ({"X-Gitlab-Instance-Id": DROP}, "X-Gitlab-Instance-Id"),
    ],
)
def test_header_claim_mismatch(client, customers, hdrs, header):
    r = post(client, customers.sign(claims(customers.url)), **hdrs)
    assert r.status_code == 401
    assert r.json() == {"error": f"Header mismatch '{header}'"}


def test_sub_must_match_instance_id_for_other_issuers(client, gitlab):
    token = gitlab.sign(claims(gitlab.url, sub="another-instance", gitlab_instance_id=DROP))
    r = post(client, token)
    assert r.json() == {"error": "Header mismatch 'X-Gitlab-Instance-Id'"}


def test_sub_must_match_global_user_id_for_gateway_tokens(client, signing):
    token = signing.sign(claims(SERVICE, sub=USER_ID, aud=SERVICE))
    assert post(client, token).status_code == 200
    r = post(client, token, **{"X-Gitlab-Global-User-Id": "778"})
    assert r.status_code == 401
    assert r.json() == {"error": "Header mismatch 'X-Gitlab-Global-User-Id'"}


def test_cached_decision_is_keyed_by_the_checked_headers(client, customers):
    token = customers.sign(claims(customers.url))
    assert post(client, token).status_code == 200
    assert post(client, token).status_code == 200
    r = post(client, token, **{"X-Gitlab-Realm": "saas"})
    assert r.json() == {"error": "Header mismatch 'X-Gitlab-Realm'"}


def test_empty_claims_are_not_checked(client, customers):
    unbound = claims(customers.url, gitlab_realm="", gitlab_instance_id=DROP, sub=DROP)
    token = customers.sign(unbound)
    r = post(client, token, **{"X-Gitlab-Realm": "whatever", "X-Gitlab-Instance-Id": "x"})
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "scopes", "detail"),
    [
        (COMPLETIONS, v2_body(), ["generate_code"], NO_COMPLETIONS),
        ("/v2/completions", v2_body(), [], NO_COMPLETIONS),
        ("/v2/code/generations", v2_body(), ["complete_code"], NO_GENERATIONS),
        ("/v3/code/completions", v3_body(), ["generate_code"], NO_SUGGESTIONS),
        (
            "/v4/code/suggestions",
            v3_body("code_editor_generation"),
            ["complete_code"],
            "Unauthorized to access code suggestions",
        ),
    ],
)
def test_missing_scope_is_403(client, customers, path, body, scopes, detail):
    r = post(client, customers.sign(claims(customers.url, scopes=scopes)), path, body)
    assert r.status_code == 403
    assert r.json() == {"detail": detail}


def test_gateway_minted_tokens_only_work_for_v2_completions(client, signing):
    """AIGW-issued IDE tokens are disallowed on generations, the v3/v4 completion branch and
    user_access_token, even with the scope (API.md §2.3)."""
    scopes = ["complete_code", "generate_code"]
    token = signing.sign(claims(SERVICE, sub=USER_ID, aud=SERVICE, scopes=scopes))
    assert post(client, token, "/v2/completions").status_code == 200
    assert post(client, token, COMPLETIONS).status_code == 200
    for path, body, detail in [
        ("/v2/code/generations", v2_body(), "Unauthorized to access code generations"),
        ("/v3/code/completions", v3_body(), "Unauthorized to access code suggestions"),
        ("/v4/code/suggestions", v3_body(), "Unauthorized to access code suggestions"),
        ("/v1/code/user_access_token", None, "Unauthorized to create user access token"),
    ]:
        r = post(client, token, path, body)
        assert r.status_code == 403, path
        assert r.json() == {"detail": detail}
    # The v3 generation branch does not refuse the gateway's own issuer.
    generation = v3_body("code_editor_generation")
    assert post(client, token, "/v3/code/completions", generation).status_code == 200


def test_issuer_down_fails_its_tokens_only(client, gitlab, customers):
    gitlab.down = True
    assert post(client, gitlab.sign(claims(gitlab.url))).json() == FORBIDDEN
    assert post(client, customers.sign(claims(customers.url))).status_code == 200


def test_issuer_unreachable_fails_its_tokens_only(jwt_client, customers, signing, validation):
    client = jwt_client(gitlab_url="http://127.0.0.1:9")  # nothing listens on the discard port
    r = post(client, KeyPair().sign(claims("http://127.0.0.1:9")))
    assert r.status_code == 401 and r.json() == FORBIDDEN
    assert post(client, customers.sign(claims(customers.url))).status_code == 200


def test_no_key_at_all_is_a_500(jwt_client, gitlab, customers):
    gitlab.down = True
    customers.down = True
    client = jwt_client(self_signed_jwt={"signing_key": "", "validation_key": ""})
    r = post(client, gitlab.sign(claims(gitlab.url)))
    assert r.status_code == 500
    assert r.json() == {"detail": "Internal server error"}
    assert "error" not in r.json()


def test_instance_id_header_compared_exactly(client, customers):
    token = customers.sign(claims(customers.url))
    r = post(client, token, **{"X-Gitlab-Instance-Id": INSTANCE_ID.upper()})
    assert r.json() == {"error": "Header mismatch 'X-Gitlab-Instance-Id'"}
