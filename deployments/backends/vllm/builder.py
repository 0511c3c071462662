"""Builds one vLLM server deployment per custom model from its spec (ray.serve.llm)."""

from __future__ import annotations

from typing import Any

from ray.serve import Application
from ray.serve.llm import LLMConfig, build_llm_deployment

from deployments.backends.vllm.server import VLLMBackend
from deployments.backends.vllm.spec import CustomModelSpec


def llm_config_of(spec: CustomModelSpec) -> LLMConfig:
    """The ray.serve.llm config for `spec`: engine args, accelerator, placement, autoscaling."""
    res = spec.resources
    worker: dict[str, float] = {"CPU": res.cpus_per_worker}
    if res.on_gpu:
        worker["GPU"] = res.gpus_per_worker
    config: dict[str, Any] = {
        "model_loading_config": {"model_id": spec.name, "model_source": spec.model_source},
        "engine_kwargs": dict(spec.engine_kwargs),
        "accelerator_config": {"kind": "gpu" if res.on_gpu else "cpu"},
        "placement_group_config": {
            "bundle_per_worker": worker,
            "strategy": res.placement_strategy,
        },
        "deployment_config": {
            "max_ongoing_requests": spec.max_ongoing_requests,
            "autoscaling_config": spec.autoscaling.serve_config(),
            "ray_actor_options": {"num_cpus": res.replica_cpus},
        },
        "log_engine_metrics": False,
    }
    if res.accelerator_type and res.on_gpu:
        config["accelerator_type"] = res.accelerator_type
    if spec.runtime_env:
        config["runtime_env"] = dict(spec.runtime_env)
    return LLMConfig(**config)


def build_vllm_backends(specs: list[CustomModelSpec]) -> dict[str, Application]:
    """Returns backend key -> bound vLLM deployment, one per spec, for the ingress to hold."""
    return {
        spec.backend: build_llm_deployment(
            llm_config_of(spec),
            bind_kwargs={"spec": spec},
            override_serve_options={"name": spec.deployment_name},
            deployment_cls=VLLMBackend,
        )
        for spec in specs
    }
