"""The app builder: `serve_app.app:build_app` is the `import_path` in serve_config.yaml."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from ray import serve
from ray.serve import Application

from core.settings import Config
from deployments.auth import AuthService
from deployments.backends.local import LocalBackend
from deployments.backends.mock import MockBackend
from deployments.backends.registry import Provider, configured_providers
from deployments.backends.vllm.spec import CustomModelSpec, parse_custom_models
from deployments.defaults import options_for
from deployments.prompt_assembler import PromptAssembler
from routing.builder import final_catalogue
from serve_app.ingress import Ingress

Placement = Literal["ingress", "deployment"]


class AppArgs(BaseModel):
    """Application `args` in serve_config.yaml: where each stage runs (DESIGN.md rule 5)."""

    model_config = ConfigDict(extra="forbid")

    auth: Placement = "ingress"
    prompt_assembler: Placement = "ingress"
    settings: dict[str, Any] = {}  # overrides of AIGW_* settings (tests, fixed deployments)
    # Backends that run inside the ingress replica instead of as their own deployment: no
    # handle hop for an HTTP client that only waits on I/O ("openai_compat", ...) or for the
    # echo mock, whose whole work is cheaper than the hop (`make bench`). "local" puts the
    # embedded llama.cpp model in every ingress replica: no hop on its stream (first token
    # ~4-7 ms sooner, `bench.local_model --placement ingress`), but a model per ingress replica.
    providers_in_ingress: list[str] = ["mock"]
    custom_models: list[dict[str, Any]] = []  # vLLM models in the graph (docs/custom-models.md)


def _deployment(cls: type, name: str) -> Any:
    return serve.deployment(cls, **options_for(name))


def _vllm_backends(custom_models: list[CustomModelSpec]) -> dict[str, Any]:
    try:  # ray.serve.llm needs vLLM: import it only when custom models are declared
        from deployments.backends.vllm.builder import build_vllm_backends
    except ImportError as exc:
        raise RuntimeError(
            f"custom_models need vLLM and ray[serve,llm] on every node ({exc}); "
            "see docs/custom-models.md"
        ) from exc
    return build_vllm_backends(custom_models)


def build_app(args: dict[str, Any] | None = None) -> Application:
    """Build the gateway graph from settings and `args`.

    Returns the Ingress application with the configured backends bound to it, and the Auth
    and PromptAssembler deployments when `args` places them outside the ingress replica.
    """
    opts = AppArgs.model_validate(args or {})
    settings = Config(**opts.settings)
    backends: dict[str, Any] = {}
    in_ingress: dict[str, Provider] = {}
    mock = Provider(MockBackend, "MockBackend", None)
    if not settings.mock_model_responses:  # the default model when no provider key is set
        local = Provider(LocalBackend, "LocalBackend", settings.local_model)
        if "local" in opts.providers_in_ingress:
            in_ingress["local"] = local
        else:
            backends["local"] = _deployment(local.cls, local.deployment).bind(local.settings)
    for name, provider in {"mock": mock, **configured_providers(settings)}.items():
        if name in opts.providers_in_ingress:
            in_ingress[name] = provider
        else:
            backends[name] = _deployment(provider.cls, provider.deployment).bind(provider.settings)
    custom_models = parse_custom_models(opts.custom_models)
    if custom_models and not settings.mock_model_responses:  # mock mode needs no GPUs
        backends.update(_vllm_backends(custom_models))
    auth = (
        _deployment(AuthService, "Auth").bind(settings.auth_service())
        if opts.auth == "deployment"
        else None
    )
    assembler = (
        _deployment(PromptAssembler, "PromptAssembler").bind(settings.prompt_assembler())
        if opts.prompt_assembler == "deployment"
        else None
    )
    catalogue = final_catalogue(settings, custom_models)
    ingress = _deployment(serve.ingress()(Ingress), "Ingress")
    app: Application = ingress.bind(settings, backends, auth, assembler, in_ingress, catalogue)
    return app


def built_deployments(args: dict[str, Any] | None = None) -> set[str]:
    """Names of the deployments `build_app(args)` creates. serve_config.yaml may list more
    (LocalBackend is not built in mock mode, a provider without a key is not built) and
    Serve refuses overrides of absent deployments."""
    from ray.serve._private.build_app import build_app as build_serve_app

    built = build_serve_app(build_app(args), name="probe")
    return {deployment.name for deployment in built.deployments}
