"""Clients over the chat/prompts routes with a chosen identity and backend, no Ray.

Auth is replaced by a stub that grants the scopes a test names: the unit primitive checks of
these routes are what is under test here (token verification is tested with Auth itself).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.settings import Config
from core.types import Identity
from deployments.backends.mock import MockBackend
from deployments.local_assembler import LocalAssembler
from deployments.prompt_assembler import PromptAssembler
from observability.telemetry import Telemetry
from routing.builder import final_catalogue
from serve_app.api.app import create_app
from serve_app.gateway import Gateway
from serve_app.proxy.forwarder import ProviderProxy


class ScopedAuth:
    """Every request is the same user holding `scopes` (all of them when None)."""

    def __init__(self, scopes: tuple[str, ...] | None) -> None:
        self.scopes = scopes

    async def authenticate(self, headers: Mapping[str, str]) -> Identity:
        if self.scopes is None:
            return Identity(bypass=True)
        return Identity(issuer="gitlab.com", scopes=self.scopes)


def chat_client(
    scopes: tuple[str, ...] | None = None,
    settings: dict[str, Any] | None = None,
    backend: Any = None,
    backends: dict[str, Any] | None = None,
) -> TestClient:
    config = Config(**{"mock_model_responses": True, **(settings or {})})
    gateway = Gateway(
        settings=config,
        catalogue=final_catalogue(config),
        auth=ScopedAuth(scopes),
        assembler=LocalAssembler(PromptAssembler(config.prompt_assembler())),
        backends={"mock": backend or MockBackend(), **(backends or {})},
    )
    return TestClient(
        create_app(
            gateway, config.api(), ProviderProxy(config), telemetry=Telemetry.in_memory(config)
        ),
        raise_server_exceptions=False,
    )


@pytest.fixture
def make_chat_client() -> Callable[..., TestClient]:
    return chat_client
