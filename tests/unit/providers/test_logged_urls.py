"""A URL is logged with its host and path, never its credentials: verbose AI logging records a
custom model's endpoint as the caller sent it (API.md §8.2)."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from core.settings import Config
from deployments.auth import AuthService
from deployments.backends.mock import MockBackend
from deployments.backends.openai_compat import OpenAICompatBackend
from deployments.local_assembler import LocalAssembler
from deployments.prompt_assembler import PromptAssembler
from observability.telemetry import Telemetry
from routing.builder import final_catalogue
from serve_app.api.app import create_app
from serve_app.gateway import Gateway
from serve_app.proxy.forwarder import ProviderProxy
from tests.fakes.openai import FakeOpenAI
from tests.payloads import v2_body
from tests.unit.observability_helpers import LogCapture


@pytest.fixture
def capture():
    cap = LogCapture()
    yield cap
    cap.pipeline.stop()


def verbose_client() -> TestClient:
    """Custom models on real backends, instrumented as the Ingress does, request logging on."""
    config = Config(
        auth={"bypass_external": True},
        custom_models={"enabled": True},
        logging={"enable_request_logging": True},
    )
    telemetry = Telemetry.in_memory(config)
    gateway = Gateway(
        settings=config,
        catalogue=final_catalogue(config),
        auth=AuthService(config.auth_service()),
        assembler=LocalAssembler(PromptAssembler(config.prompt_assembler())),
        backends={
            "mock": MockBackend(),
            "openai_compat": telemetry.instrument_backend(
                OpenAICompatBackend(config.openai_compat_backend())
            ),
        },
    )
    app = create_app(gateway, config.api(), ProviderProxy(config), telemetry=telemetry)
    return TestClient(app, raise_server_exceptions=False)


def test_model_endpoint_credentials_are_not_logged(fake_openai: FakeOpenAI, capture) -> None:
    """The call itself fails (the HTTP client refuses credentials in a URL next to the SDK's
    Authorization header): the request log and the backend's warning are written all the same."""
    host = fake_openai.url.removeprefix("http://")
    body = v2_body(
        model_provider="litellm",
        model_name="codestral",
        model_endpoint=f"http://user:password@{host}/v1",
        model_identifier="custom_openai/Codestral-22B-v0.1",
    )
    r = verbose_client().post("/v2/code/completions", json=body)
    assert r.json() == {"detail": "Inference failed"}
    text = capture.text()
    assert '"logger": "api.request"' in text  # the request log was written...
    assert f"{host}/v1" in text  # ...with the endpoint's host and path
    assert "user:password" not in text and "password" not in text


def test_a_logged_traceback_is_masked_too(capture) -> None:
    """An exception's message is text in the log like any other (and the traceback is kept)."""
    try:
        raise ConnectionError("cannot reach https://deploy:hunter2@models.internal/v1")
    except ConnectionError:
        logging.getLogger("aigw.test").exception("call to %s failed", "https://u:pw@h/v1")
    [line] = [x for x in capture.lines() if x.get("logger") == "aigw.test"]
    assert line["event"] == "call to https://**********@h/v1 failed"
    assert (
        "ConnectionError: cannot reach https://**********@models.internal/v1" in line["exception"]
    )
    assert "hunter2" not in str(line) and "pw@" not in str(line)
