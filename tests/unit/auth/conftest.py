"""Fixtures for JWT auth through the HTTP app: two real local OIDC issuers (GitLab and
CustomersDot, new servers per test with keys generated per session) and the gateway's own
signing and validation keys."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.auth_support import SERVICE, jwt_settings
from tests.fakes.oidc import KeyPair, OidcIssuer
from tests.unit.conftest import make_client


@pytest.fixture(scope="session")
def gitlab_key() -> KeyPair:
    return KeyPair()


@pytest.fixture(scope="session")
def customers_key() -> KeyPair:
    return KeyPair()


# Each test gets issuers on new ports (with the session's keys): one test's gateway can still
# fetch keys late, after its test ended, and the next test counts JWKS hits.
@pytest.fixture
def gitlab(gitlab_key: KeyPair) -> Iterator[OidcIssuer]:
    issuer = OidcIssuer.start(reuse=[gitlab_key])
    yield issuer
    issuer.stop()


@pytest.fixture
def customers(customers_key: KeyPair) -> Iterator[OidcIssuer]:
    issuer = OidcIssuer.start(reuse=[customers_key])
    yield issuer
    issuer.stop()


@pytest.fixture(scope="session")
def signing() -> KeyPair:
    return KeyPair(f"{SERVICE}_signing_key")


@pytest.fixture(scope="session")
def validation() -> KeyPair:
    return KeyPair(f"{SERVICE}_validation_key")


@pytest.fixture
def settings(
    gitlab: OidcIssuer, customers: OidcIssuer, signing: KeyPair, validation: KeyPair
) -> dict[str, Any]:
    return jwt_settings(gitlab, customers, signing, validation)


@pytest.fixture
def jwt_client(settings: dict[str, Any]) -> Iterator[Callable[..., TestClient]]:
    """A TestClient (one event loop for its whole life) over the app with real JWT auth;
    keyword arguments override settings."""
    clients: list[TestClient] = []

    def factory(**overrides: Any) -> TestClient:
        merged = {**settings, **overrides}
        if "auth" in overrides:
            merged["auth"] = {**settings["auth"], **overrides["auth"]}
        client = make_client(merged).__enter__()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(jwt_client: Callable[..., TestClient]) -> TestClient:
    return jwt_client()
