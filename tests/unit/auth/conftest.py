"""Fixtures for JWT auth through the HTTP app: two real local OIDC issuers (GitLab and
CustomersDot) and the gateway's own signing and validation keys, all generated per session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.auth_support import SERVICE, jwt_settings
from tests.fakes.oidc import KeyPair, OidcIssuer
from tests.unit.conftest import make_client


@pytest.fixture(scope="session")
def gitlab_server() -> Iterator[OidcIssuer]:
    issuer = OidcIssuer.start()
    yield issuer
    issuer.stop()


@pytest.fixture(scope="session")
def customers_server() -> Iterator[OidcIssuer]:
    issuer = OidcIssuer.start()
    yield issuer
    issuer.stop()


@pytest.fixture
def gitlab(gitlab_server: OidcIssuer) -> OidcIssuer:
    gitlab_server.reset()
    return gitlab_server


@pytest.fixture
def customers(customers_server: OidcIssuer) -> OidcIssuer:
    customers_server.reset()
    return customers_server


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
