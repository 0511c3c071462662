"""The ingress deployment: owns HTTP; holds auth/assembly in-process or as handles."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from deployments.auth import AuthService
from deployments.handles import LocalAssembler, RemoteAssembler, RemoteAuth, RemoteBackend
from deployments.prompt_assembler import PromptAssembler
from routing.catalogue import load_catalogue
from serve_app.api.app import create_app
from serve_app.gateway import Gateway
from serve_app.observability.telemetry import Telemetry
from serve_app.settings import Config


class Ingress:
    """Thin Ray shell: builds the Gateway from its bound arguments and serves the FastAPI app."""

    def __init__(
        self,
        settings: Config,
        backends: dict[str, Any],
        auth: Any | None = None,
        assembler: Any | None = None,
    ) -> None:
        self.telemetry = telemetry = Telemetry.start(settings)
        self.gateway = Gateway(
            settings=settings,
            catalogue=load_catalogue(),
            auth=RemoteAuth(auth, settings) if auth is not None else AuthService(settings),
            assembler=telemetry.instrument_assembler(
                RemoteAssembler(assembler)
                if assembler is not None
                else LocalAssembler(
                    PromptAssembler(tuple(settings.feature_flags.excl_post_process))
                )
            ),
            backends={
                name: telemetry.instrument_backend(RemoteBackend(handle))
                for name, handle in backends.items()
            },
        )

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_app(self.gateway, under_serve=True, telemetry=self.telemetry)

    def __del__(self) -> None:
        self.telemetry.close()  # send the internal events still queued
