"""The app builder: `serve_app.app:build_app` is the `import_path` in serve_config.yaml."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from ray import serve
from ray.serve import Application

from deployments.auth import AuthService
from deployments.backends.local import LocalBackend
from deployments.backends.mock import MockBackend
from deployments.defaults import options_for
from deployments.ingress import Ingress
from deployments.prompt_assembler import PromptAssembler
from serve_app.settings import Config

Placement = Literal["ingress", "deployment"]


class AppArgs(BaseModel):
    """Application `args` in serve_config.yaml: where each stage runs (DESIGN.md rule 5)."""

    model_config = ConfigDict(extra="forbid")

    auth: Placement = "ingress"
    prompt_assembler: Placement = "ingress"
    settings: dict[str, Any] = {}  # overrides of AIGW_* settings (tests, fixed deployments)


def _deployment(cls: type, name: str) -> Any:
    return serve.deployment(cls, **options_for(name))


def build_app(args: dict[str, Any] | None = None) -> Application:
    """Build the gateway graph from settings and `args`.

    Returns the Ingress application with the configured backends bound to it, and the Auth
    and PromptAssembler deployments when `args` places them outside the ingress replica.
    """
    opts = AppArgs.model_validate(args or {})
    settings = Config(**opts.settings)
    backends = {"mock": _deployment(MockBackend, "MockBackend").bind()}
    if not settings.mock_model_responses:  # the default model when no provider key is set
        backends["local"] = _deployment(LocalBackend, "LocalBackend").bind(settings.local_model)
    auth = _deployment(AuthService, "Auth").bind(settings) if opts.auth == "deployment" else None
    assembler = (
        _deployment(PromptAssembler, "PromptAssembler").bind(
            tuple(settings.feature_flags.excl_post_process)
        )
        if opts.prompt_assembler == "deployment"
        else None
    )
    ingress = _deployment(serve.ingress()(Ingress), "Ingress")
    app: Application = ingress.bind(settings, backends, auth, assembler)
    return app


def built_deployments(args: dict[str, Any] | None = None) -> set[str]:
    """Names of the deployments `build_app(args)` creates: serve_config.yaml may list more
    (LocalBackend is not built in mock mode) and Serve refuses overrides of absent ones."""
    opts = AppArgs.model_validate(args or {})
    settings = Config(**opts.settings)
    names = {"Ingress", "MockBackend"}
    if not settings.mock_model_responses:
        names.add("LocalBackend")
    if opts.auth == "deployment":
        names.add("Auth")
    if opts.prompt_assembler == "deployment":
        names.add("PromptAssembler")
    return names
