"""`/v1/amazon_q/*` are out of scope (README): the contract's 403 without the unit primitive,
the unconfigured provider's 503 with it; never a 404 or a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from core.types import Identity
from serve_app.api.amazon_q.serving import PATHS
from tests.unit.observability_helpers import observed


class ScopedAuth:
    def __init__(self, *scopes: str) -> None:
        self.identity = Identity(issuer="gitlab.com", scopes=scopes)

    async def authenticate(self, headers: object) -> Identity:
        return self.identity


def client_with(*scopes: str) -> TestClient:
    client, _, _ = observed()
    client.app.state.gateway.auth = ScopedAuth(*scopes)  # type: ignore[attr-defined]
    return client


@pytest.mark.parametrize("path", PATHS)
def test_amazon_q_routes_answer_not_available(path: str) -> None:
    body = {"client_id": "x", "client_secret": "y", "redirect_url": "https://g.example/cb"}
    r = client_with("complete_code").post(path, json=body)
    assert r.status_code == 403 and r.json() == {"detail": "Unauthorized to perform action"}
    r = client_with("amazon_q_integration").post(path, json=body)
    assert r.status_code == 503 and r.json() == {"detail": "Inference failed"}


def test_amazon_q_routes_need_a_token() -> None:
    client, _, _ = observed({"auth": {"bypass_external": False}})
    r = client.post(PATHS[0], json={})
    assert r.status_code == 401 and r.json() == {"error": "No authorization header presented"}
