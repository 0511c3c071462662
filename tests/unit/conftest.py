"""Unit tier: the FastAPI app over a Gateway of plain classes, no Ray."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.settings import Config
from core.types import Chunk, ModelRequest, ModelResult
from deployments.auth import AuthService
from deployments.backends.mock import MockBackend
from deployments.local_assembler import LocalAssembler
from deployments.prompt_assembler import PromptAssembler
from observability.telemetry import Telemetry
from routing.builder import final_catalogue
from serve_app.api.app import create_app
from serve_app.gateway import Gateway
from serve_app.proxy.forwarder import ProviderProxy
from serve_app.services import Services


class ScriptedBackend:
    """A backend whose behaviour a test chooses: raise, or stream some chunks then raise."""

    def __init__(self, error: Exception | None = None, chunks: tuple[str, ...] = ()) -> None:
        self.error = error
        self.chunks = chunks
        self.requests: list[ModelRequest] = []

    async def check(self) -> bool:
        return self.error is None

    async def generate(self, request: ModelRequest) -> ModelResult:
        self.requests.append(request)
        if self.error:
            raise self.error
        return ModelResult(text="".join(self.chunks))

    async def stream(self, request: ModelRequest) -> AsyncIterator[Chunk]:
        self.requests.append(request)
        for text in self.chunks:
            yield Chunk(text=text)
        if self.error:
            raise self.error


def make_client(settings: dict[str, Any] | None = None, backend: Any = None) -> TestClient:
    config = Config(**{"mock_model_responses": True, **(settings or {})})
    catalogue = final_catalogue(config)
    gateway = Gateway(
        settings=config,
        catalogue=catalogue,
        auth=AuthService(config.auth_service()),
        assembler=LocalAssembler(PromptAssembler(config.prompt_assembler())),
        backends={"mock": backend or MockBackend()},
    )
    return TestClient(
        create_app(
            gateway,
            config.api(),
            ProviderProxy(config),
            telemetry=Telemetry.in_memory(config),
            services=Services.from_config(config, catalogue.provider_models.litellm_prefixes),
        ),
        raise_server_exceptions=False,
    )


@pytest.fixture
def client_factory() -> Callable[..., TestClient]:
    return make_client


@pytest.fixture
def client() -> TestClient:
    return make_client({"auth": {"bypass_external": True}})
