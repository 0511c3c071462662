"""Real JWT auth through Ray Serve, with Auth in the ingress replica (`/jwt`) and as its own
deployment (`/jwt-split`), against two real local OIDC issuers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.auth_support import SERVICE, USER_ID, claims, headers, jwt_settings
from tests.fakes.oidc import KeyPair, OidcIssuer
from tests.integration.conftest import deploy, wait_ready
from tests.payloads import v2_body

pytestmark = pytest.mark.serve

PLACEMENTS = {"ingress": ("aigw_jwt", "/jwt"), "deployment": ("aigw_jwt_split", "/jwt-split")}


class Issuers:
    def __init__(self) -> None:
        self.gitlab = OidcIssuer.start()
        self.customers = OidcIssuer.start()
        self.signing = KeyPair(f"{SERVICE}_signing_key")
        self.validation = KeyPair(f"{SERVICE}_validation_key")

    def token(self, which: str, **overrides: Any) -> str:
        if which in ("signing", "validation"):
            pair: KeyPair = getattr(self, which)
            return pair.sign(claims(SERVICE, sub=USER_ID, aud=SERVICE, **overrides))
        issuer: OidcIssuer = getattr(self, which)
        return issuer.sign(claims(issuer.url, **overrides))


@pytest.fixture(scope="module")
def issuers() -> Iterator[Issuers]:
    found = Issuers()
    yield found
    found.gitlab.stop()
    found.customers.stop()


@pytest.fixture(scope="module")
def jwt_apps(serve_instance: str, issuers: Issuers) -> Iterator[dict[str, str]]:
    from ray import serve

    from serve_app.app import build_app

    settings = {
        "mock_model_responses": True,
        **jwt_settings(issuers.gitlab, issuers.customers, issuers.signing, issuers.validation),
    }
    urls = {}
    for placement, (name, prefix) in PLACEMENTS.items():
        deploy(build_app({"auth": placement, "settings": settings}), name, prefix)
        urls[placement] = serve_instance + prefix
        wait_ready(urls[placement])
    yield urls
    for name, _ in PLACEMENTS.values():
        serve.delete(name)


def auth_stats() -> Any:
    """The Auth deployment's counters. Throughput-optimized handles bind to the caller's event
    loop; the test thread has none, so this handle runs its router in Serve's own loop."""
    from ray import serve

    handle = serve.get_deployment_handle("Auth", app_name="aigw_jwt_split")
    if not handle.is_initialized:
        handle._init(_run_router_in_separate_loop=True)
    return handle.stats.remote().result(timeout_s=30)


def post(url: str, token: str, path: str = "/v2/code/completions", **hdrs: str) -> httpx.Response:
    return httpx.post(url + path, json=v2_body(), headers=headers(token, **hdrs), timeout=30)


@pytest.mark.parametrize("placement", list(PLACEMENTS))
def test_each_issuer_and_the_contract_errors(jwt_apps, issuers, placement):
    url = jwt_apps[placement]
    for which in ("gitlab", "customers", "signing", "validation"):
        r = post(url, issuers.token(which))
        assert r.status_code == 200, (which, r.text)
        assert r.json()["choices"][0]["text"]
    expired = issuers.token("customers", exp=int(time.time()) - 10)
    r = post(url, expired)
    assert r.status_code == 401 and r.json() == {"error": "Forbidden by auth provider"}
    r = post(url, KeyPair().sign(claims(issuers.gitlab.url)))
    assert r.status_code == 401 and r.json() == {"error": "Forbidden by auth provider"}
    r = httpx.post(url + "/v2/code/completions", json=v2_body(), timeout=30)
    assert r.status_code == 401 and r.json() == {"error": "No authorization header presented"}
    r = post(url, issuers.token("customers"), **{"X-Gitlab-Realm": "saas"})
    assert r.status_code == 401 and r.json() == {"error": "Header mismatch 'X-Gitlab-Realm'"}
    r = post(url, issuers.token("customers", scopes=["duo_chat"]))
    assert r.status_code == 403
    assert r.json() == {"detail": "Unauthorized to access code completions"}


@pytest.mark.parametrize("placement", list(PLACEMENTS))
def test_50_concurrent_authenticated_requests(jwt_apps, issuers, placement):
    url = jwt_apps[placement]
    kinds = ["gitlab", "customers", "signing", "validation"]
    tokens = [issuers.token(kinds[i % len(kinds)]) for i in range(50)]  # 50 distinct tokens

    def call(token: str) -> int:
        return post(url, token).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(call, tokens))
    assert statuses == [200] * 50


def test_known_keys_cost_no_hop_to_the_auth_deployment(jwt_apps, issuers):
    url = jwt_apps["deployment"]
    assert post(url, issuers.token("gitlab")).status_code == 200
    assert post(url, issuers.token("customers")).status_code == 200
    before = auth_stats()
    for i in range(30):
        which = ("gitlab", "customers", "signing")[i % 3]
        assert post(url, issuers.token(which)).status_code == 200
    after = auth_stats()
    assert after.key_set_requests == before.key_set_requests
    assert after.tokens_verified == 0  # the ingress verified every token itself
    # A new key at the issuer: one hop to Auth, which fetches the issuer, then it is known.
    rotated = issuers.gitlab.add_key()
    token = rotated.sign(claims(issuers.gitlab.url))
    assert post(url, token).status_code == 200
    assert post(url, rotated.sign(claims(issuers.gitlab.url))).status_code == 200
    assert auth_stats().key_set_requests == before.key_set_requests + 1


@pytest.mark.parametrize("placement", list(PLACEMENTS))
def test_rotation_mid_session(jwt_apps, issuers, placement):
    url = jwt_apps[placement]
    assert post(url, issuers.token("customers")).status_code == 200
    new = issuers.customers.add_key()
    assert post(url, new.sign(claims(issuers.customers.url))).status_code == 200


@pytest.mark.parametrize("placement", list(PLACEMENTS))
def test_user_access_token_round_trip(jwt_apps, issuers, placement):
    url = jwt_apps[placement]
    r = httpx.post(
        url + "/v1/code/user_access_token",
        headers=headers(issuers.token("customers")),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    minted = r.json()["token"]
    assert post(url, minted, "/v2/completions").status_code == 200
    r = post(url, minted, "/v2/code/generations")
    assert r.status_code == 403
    assert r.json() == {"detail": "Unauthorized to access code generations"}
