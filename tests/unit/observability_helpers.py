"""An app over plain classes with Telemetry wired the way the Ingress wires it, and a log
capture that parses every line as JSON."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi.testclient import TestClient

from core.settings import Config
from core.types import Chunk, ModelRequest, ModelResult
from deployments.auth import AuthService
from deployments.backends.mock import MockBackend
from deployments.local_assembler import LocalAssembler
from deployments.prompt_assembler import PromptAssembler
from observability.logs import LogPipeline, configure_logging
from observability.metrics import GatewayMetrics, MemoryMetrics
from observability.telemetry import Telemetry
from routing.builder import final_catalogue
from serve_app.api.app import create_app
from serve_app.gateway import Gateway
from serve_app.proxy.forwarder import ProviderProxy


class SlowBackend:
    """The echo mock, answering after `delay_s` (the first chunk too, when streaming)."""

    def __init__(self, delay_s: float, error: Exception | None = None) -> None:
        self.delay_s = delay_s
        self.error = error
        self.mock = MockBackend()

    async def check(self) -> bool:
        return True

    async def generate(self, request: ModelRequest) -> ModelResult:
        await asyncio.sleep(self.delay_s)
        if self.error:
            raise self.error
        result = await self.mock.generate(request)
        return result.model_copy(update={"input_tokens": 7})

    async def stream(self, request: ModelRequest) -> AsyncIterator[Chunk]:
        await asyncio.sleep(self.delay_s)
        if self.error:
            raise self.error
        async for chunk in self.mock.stream(request):
            yield chunk


def observed(
    settings: dict[str, Any] | None = None, backend: Any = None
) -> tuple[TestClient, MemoryMetrics, Telemetry]:
    config = Config(
        **{"mock_model_responses": True, "auth": {"bypass_external": True}, **(settings or {})}
    )
    store = MemoryMetrics()
    telemetry = Telemetry(config, GatewayMetrics(store, config.model_engine_limits))
    gateway = Gateway(
        settings=config,
        catalogue=final_catalogue(config),
        auth=AuthService(config.auth_service()),
        assembler=telemetry.instrument_assembler(
            LocalAssembler(PromptAssembler(config.prompt_assembler()))
        ),
        backends={"mock": telemetry.instrument_backend(backend or MockBackend())},
    )
    app = create_app(gateway, config.api(), ProviderProxy(config), telemetry=telemetry)
    return TestClient(app, raise_server_exceptions=False), store, telemetry


class LogCapture:
    def __init__(self, **logging_settings: Any) -> None:
        self.stream = io.StringIO()
        settings = Config(logging={"level": "INFO", **logging_settings}).logging
        self.pipeline: LogPipeline = configure_logging(settings, stream=self.stream)

    def lines(self) -> list[dict[str, Any]]:
        """Stop the writer (flushing it) and parse every line; a non-JSON line fails."""
        self.pipeline.stop()
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]

    def text(self) -> str:
        self.pipeline.stop()
        return self.stream.getvalue()
