"""The plain Auth classes without HTTP: what crosses a handle, and the decision cache's bounds."""

from __future__ import annotations

import asyncio
import logging
import time

from core.settings import Config
from core.types import Identity
from deployments.auth import AuthService
from deployments.authn.cache import DecisionCache
from tests.auth_support import SERVICE, claims, headers, jwt_settings
from tests.fakes.oidc import OidcIssuer

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


def lower(hdrs: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in hdrs.items()}


async def test_key_set_handed_to_the_ingress_is_public_only(settings, gitlab, signing, validation):
    auth = AuthService(Config(**settings).auth_service())
    snapshot = await auth.key_set(gitlab.key.kid)
    kids = {(k.source, k.jwk["kid"]) for k in snapshot.keys}
    assert ("local", f"{SERVICE}_signing_key") in kids
    assert ("local", f"{SERVICE}_validation_key") in kids
    assert ("Gitlab", gitlab.key.kid) in kids
    for key in snapshot.keys:
        assert not PRIVATE_MEMBERS & set(key.jwk), key.jwk.keys()
    assert signing.pem not in snapshot.model_dump_json()
    stats = await auth.stats()
    assert stats.key_set_requests == 1


async def test_unusable_pem_is_reported_without_its_text(caplog):
    secret_looking = (
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXNlY3JldA==\n-----END PRIVATE KEY-----\n"
    )
    with caplog.at_level(logging.ERROR):
        auth = AuthService(
            Config(
                gitlab_url="",
                customer_portal_url="",
                self_signed_jwt={"signing_key": secret_looking},
            ).auth_service()
        )
        snapshot = await auth.key_set(None)
    assert snapshot.keys == ()
    assert "SIGNING_KEY is unusable" in caplog.text
    assert "c2VjcmV0" not in caplog.text


async def test_lru_bound_evicts_the_oldest_decision(settings, customers, caplog):
    auth = AuthService(
        Config(
            **{**settings, "auth": {**settings["auth"], "decision_cache_size": 2}}
        ).auth_service()
    )
    tokens = [customers.sign(claims(customers.url)) for _ in range(3)]
    with caplog.at_level(logging.INFO, logger="aigw.auth"):
        for token in [*tokens, tokens[2], tokens[1], tokens[0]]:
            await auth.authenticate(lower(headers(token)))
    accepted = [r.getMessage() for r in caplog.records if r.getMessage().startswith("JWT accepted")]
    # A, B, C verified; C and B come from the cache; A was evicted and is verified again.
    assert len(accepted) == 4


def test_decision_cache_expiry_and_size() -> None:
    now = [1000.0]
    cache = DecisionCache(max_size=2, ttl_s=300, clock=lambda: now[0])
    who = Identity(issuer="x")
    cache.put("a", who, expires_at=1010)  # token expires before the TTL
    cache.put("b", who, expires_at=5000)  # TTL (300 s) comes first
    assert cache.get("a") is who and cache.get("b") is who
    now[0] = 1010
    assert cache.get("a") is None and cache.get("b") is who
    now[0] = 1300
    assert cache.get("b") is None
    cache.put("c", who, expires_at=999)  # already expired: never stored
    assert len(cache) == 0
    for key in "xyz":
        cache.put(key, who, expires_at=time.time() + 9999)
    assert len(cache) == 2 and cache.get("x") is None


async def test_keys_are_prefetched_when_a_replica_starts(signing, validation):
    # Issuers of this test alone: the session's shared ones can receive a late key fetch of
    # an earlier test's gateway (a loaded runner saw 2 hits where this test made 1).
    gitlab, customers = OidcIssuer.start(), OidcIssuer.start()
    try:
        settings = jwt_settings(gitlab, customers, signing, validation)
        auth = AuthService(
            Config(**settings).auth_service()
        )  # inside a running loop, as under Serve
        wanted = {gitlab.key.kid, customers.key.kid}
        deadline = time.monotonic() + 15  # a busy runner starts the fetch late
        while not wanted <= {key.jwk.get("kid") for key in auth.store.snapshot().keys}:
            assert time.monotonic() < deadline, "the key sets were not fetched at start"
            await asyncio.sleep(0.01)
        assert (gitlab.jwks_hits, customers.jwks_hits) == (1, 1)  # one fetch each, no token yet
        token = customers.sign(claims(customers.url))
        identity = await auth.authenticate(lower(headers(token)))
        assert identity.issuer == customers.url and "complete_code" in identity.scopes
        assert (gitlab.jwks_hits, customers.jwks_hits) == (1, 1)  # the token needed no fetch
    finally:
        gitlab.stop()
        customers.stop()
