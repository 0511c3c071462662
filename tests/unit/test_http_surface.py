"""Cross-cutting HTTP behaviour: auth gate, correlation id, monitoring, 404/405, docs."""

from __future__ import annotations

import time
import uuid

import pytest

from serve_app.api.middleware import context_headers
from tests.payloads import v2_body
from tests.unit.conftest import ScriptedBackend, make_client


def test_no_token_is_401_with_the_contract_body(client_factory):
    client = client_factory()
    r = client.post("/v2/code/completions", json=v2_body())
    assert r.status_code == 401
    assert r.json() == {"error": "No authorization header presented"}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Authorization": "Basic abc"}, "Invalid authorization header"),
        ({"Authorization": "Bearer"}, "Invalid authorization header"),
        (
            {"Authorization": "Bearer abc"},
            "Invalid authentication token type - only OIDC is supported",
        ),
        (
            {"Authorization": "Bearer abc", "X-Gitlab-Authentication-Type": "oidc"},
            "Forbidden by auth provider",
        ),
    ],
)
def test_bad_credentials_get_the_contract_messages(client_factory, headers, message):
    r = client_factory().post("/v2/code/completions", json=v2_body(), headers=headers)
    assert r.status_code == 401
    assert r.json() == {"error": message}


def test_bypass_with_header_needs_the_header(client_factory):
    client = client_factory({"auth": {"bypass_external_with_header": True}})
    assert client.post("/v2/code/completions", json=v2_body()).status_code == 401
    ok = client.post("/v2/code/completions", json=v2_body(), headers={"Bypass-Auth": "true"})
    assert ok.status_code == 200


def test_auth_happens_before_body_validation(client_factory):
    r = client_factory().post(
        "/v2/code/completions", content=b"{bad", headers={"content-type": "application/json"}
    )
    assert r.status_code == 401


def test_unknown_path_404_and_wrong_method_405_without_a_token(client_factory):
    client = client_factory()
    assert client.get("/v2/nothing-here").status_code == 404
    r = client.get("/v2/code/completions")
    assert r.status_code == 405
    assert r.json() == {"detail": "Method Not Allowed"}


def test_request_id_is_echoed_or_minted(client):
    r = client.get("/monitoring/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    minted = client.get("/monitoring/healthz").headers["x-request-id"]
    assert len(minted) >= 16 and minted != "abc-123"
    # A minted id is a UUID4 in hex, as upstream's (`uuid4().hex`), and a fresh one each time.
    ids = {client.get("/monitoring/healthz").headers["x-request-id"] for _ in range(20)}
    for minted in ids:
        as_uuid = uuid.UUID(hex=minted)
        assert as_uuid.hex == minted and as_uuid.version == 4
        assert as_uuid.variant == uuid.RFC_4122
    assert len(ids) == 20
    assert float(r.headers["x-process-time"]) >= 0


def test_our_headers_replace_an_answers_own_of_the_same_name():
    """A proxied provider's `x-request-id` (or a stale RateLimit header) never reaches the
    client beside ours: one of each, ours."""
    add = context_headers(echo_request_id=True)
    scope = {
        "state": {
            "correlation_id": "ours-1",
            "rate_limit_headers": {"RateLimit": '"r";r=9;t=30', "RateLimit-Policy": '"r";q=10'},
        }
    }
    raw = [
        (b"content-type", b"application/json"),
        (b"x-request-id", b"upstream-9"),
        (b"ratelimit", b"stale"),
    ]
    add(scope, raw, time.perf_counter())
    names = [name for name, _ in raw]
    assert sorted(names) == sorted(
        [b"content-type", b"x-request-id", b"x-process-time", b"ratelimit", b"ratelimit-policy"]
    )
    assert dict(raw)[b"x-request-id"] == b"ours-1"
    assert dict(raw)[b"ratelimit"] == b'"r";r=9;t=30'
    quiet = context_headers(echo_request_id=False)  # under Serve: the replica echoes it
    raw = [(b"x-request-id", b"serve-1")]
    quiet({"state": {"correlation_id": "ours-1"}}, raw, time.perf_counter())
    assert dict(raw)[b"x-request-id"] == b"serve-1"


def test_error_responses_carry_the_request_id_too(client_factory):
    r = client_factory().post(
        "/v2/code/completions", json=v2_body(), headers={"X-Request-ID": "rid-7"}
    )
    assert r.status_code == 401
    assert r.headers["x-request-id"] == "rid-7"


def test_monitoring_needs_no_token(client_factory):
    client = client_factory()
    assert client.get("/monitoring/healthz").status_code == 200
    ready = client.get("/monitoring/ready")
    assert ready.status_code == 200
    assert ready.json() == {"backends": {"mock": True}}


def test_ready_is_503_while_a_backend_cannot_serve():
    client = make_client(backend=ScriptedBackend(RuntimeError("not loaded")))
    r = client.get("/monitoring/ready")
    assert r.status_code == 503
    assert r.json() == {"backends": {"mock": False}}


def test_model_definitions_are_public_and_come_from_configs(client_factory):
    r = client_factory().get("/v1/models/definitions")
    assert r.status_code == 200
    body = r.json()
    identifiers = {m["identifier"] for m in body["models"]}
    assert {"codestral_2508_vertex", "claude_sonnet_4_5_20250929"} <= identifiers
    features = {u["feature_setting"]: u for u in body["unit_primitives"]}
    assert features["code_completions"]["unit_primitives"] == ["complete_code"]
    assert set(features["code_completions"]) >= {
        "default_model",
        "default_models",
        "selectable_models",
        "beta_models",
        "deprecated_models",
        "models_for_tags",
    }


def test_docs_only_when_configured(client_factory):
    assert client_factory().get("/openapi.json").status_code == 404
    on = client_factory({"fastapi": {"docs_url": "/docs", "openapi_url": "/openapi.json"}})
    assert on.get("/docs").status_code == 200
    spec = on.get("/openapi.json").json()
    assert "/v4/code/suggestions" in spec["paths"]
