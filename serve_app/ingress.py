"""The ingress deployment: owns HTTP; holds auth/assembly in-process or as handles."""

from __future__ import annotations

import gc
from typing import Any

from fastapi import FastAPI

from core.settings import Config
from deployments.auth import AuthService
from deployments.backends.registry import Provider
from deployments.handles import RemoteAssembler, RemoteAuth, RemoteBackend
from deployments.local_assembler import LocalAssembler
from deployments.prompt_assembler import PromptAssembler
from observability.telemetry import Telemetry
from routing.builder import final_catalogue
from routing.catalogue import Catalogue
from serve_app.admission_store import admission
from serve_app.api.app import create_app
from serve_app.gateway import Gateway
from serve_app.proxy.forwarder import ProviderProxy
from serve_app.resilience import refused_or_parsed, resilience_of
from serve_app.services import Services
from serve_app.user_config import IngressUserConfig


class Ingress:
    """Thin Ray shell: builds the Gateway from its bound arguments and serves the FastAPI app."""

    def __init__(
        self,
        settings: Config,
        backends: dict[str, Any],
        auth: Any | None = None,
        assembler: Any | None = None,
        local_backends: dict[str, Provider] | None = None,
        catalogue: Catalogue | None = None,  # the builder's final catalogue
    ) -> None:
        self.telemetry = telemetry = Telemetry.start(settings)
        auth_settings = settings.auth_service()
        clients: dict[str, Any] = {
            name: telemetry.instrument_backend(
                RemoteBackend(handle, settings.model_timeouts.replica_wait_s)
            )
            for name, handle in backends.items()
        }
        # Plain backend classes co-located in this replica (AppArgs.providers_in_ingress).
        clients.update(
            {
                name: telemetry.instrument_backend(provider.cls(provider.settings))
                for name, provider in (local_backends or {}).items()
            }
        )
        catalogue = catalogue if catalogue is not None else final_catalogue(settings)
        self.gateway = Gateway(
            settings=settings,
            catalogue=catalogue,
            auth=RemoteAuth(auth, auth_settings)
            if auth is not None
            else AuthService(auth_settings),
            assembler=telemetry.instrument_assembler(
                RemoteAssembler(assembler)
                if assembler is not None
                else LocalAssembler(PromptAssembler(settings.prompt_assembler()))
            ),
            backends=clients,
            resilience=resilience_of(telemetry),
            admission=admission(telemetry, backends, settings.limits.redis_url.get_secret_value()),
        )
        self.api_settings = settings.api()
        self.proxy = ProviderProxy(settings)
        self.services = Services.from_config(settings, catalogue.provider_models.litellm_prefixes)
        self.user_config = IngressUserConfig()
        self._configured = False

    def reconfigure(self, config: dict[str, Any]) -> None:
        """Serve calls this with the deployment's `user_config` at start and on every
        `serve deploy` that changes it. An invalid config at start raises (the replica does
        not start). On a running replica it is refused and the running policy stays: Serve
        2.60 answers a raising reconfigure by replacing the replica, and the new one fails
        at start, round after round (tests/integration/test_routing_serve.py)."""
        user_config = refused_or_parsed(
            self.user_config, config, self._configured, self.gateway.resilience.metrics
        )
        self._configured = True
        self.gateway.resilience.reload(user_config.routing)
        self.gateway.admission.configure(user_config.limits)
        self.gateway.admission.priorities.configure(user_config.priority)
        warm = getattr(self.gateway.admission.store, "warm", None)
        if user_config.limits and warm is not None:
            warm()
        self.user_config = user_config

    def __serve_build_asgi_app__(self) -> FastAPI:
        app = create_app(
            self.gateway,
            self.api_settings,
            self.proxy,
            telemetry=self.telemetry,
            under_serve=True,
            services=self.services,
        )
        # Everything loaded so far (Ray, FastAPI, the registry, the tokenizer) lives as long as
        # the replica: keep it out of the cyclic collector's scans, which otherwise walk the
        # whole heap on every full collection of a busy replica.
        gc.freeze()
        return app

    def __del__(self) -> None:
        self.telemetry.close()  # send the internal events still queued
