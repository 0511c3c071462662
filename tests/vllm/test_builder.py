"""How a custom-model spec becomes a ray.serve.llm config: GPUs, placement, autoscaling."""

from __future__ import annotations

from deployments.backends.vllm.builder import llm_config_of
from deployments.backends.vllm.spec import CustomModelSpec


def test_gpu_spec_asks_one_bundle_per_tensor_parallel_worker():
    spec = CustomModelSpec(
        name="coder",
        model_source="/models/coder",
        engine_kwargs={"tensor_parallel_size": 2, "max_model_len": 8192},
        resources={"gpus_per_worker": 1, "cpus_per_worker": 4, "accelerator_type": "L4"},
        autoscaling={"min_replicas": 0, "max_replicas": 3, "target_ongoing_requests": 8},
    )
    config = llm_config_of(spec)
    assert config.model_id == "coder"
    assert config.accelerator_type == "L4"
    assert config.engine_kwargs == {"tensor_parallel_size": 2, "max_model_len": 8192}
    bundles = config.placement_group_config
    assert bundles == {"bundle_per_worker": {"CPU": 4, "GPU": 1}, "strategy": "PACK"}
    deployment = config.deployment_config
    assert deployment["autoscaling_config"] == {
        "min_replicas": 0,
        "max_replicas": 3,
        "target_ongoing_requests": 8,
    }
    assert deployment["max_ongoing_requests"] == 64


def test_cpu_spec_runs_on_the_cpu_accelerator():
    spec = CustomModelSpec(
        name="tiny", model_source="/m", resources={"gpus_per_worker": 0, "accelerator_type": "L4"}
    )
    config = llm_config_of(spec)
    assert config.accelerator_config is not None and config.accelerator_config.kind == "cpu"
    assert config.accelerator_type is None  # a GPU label means nothing on CPU
    assert "GPU" not in config.placement_group_config["bundle_per_worker"]


def test_the_app_builder_binds_one_deployment_per_model(vllm_gateway):
    """(Binding reads Ray's runtime context: use the session's Ray, not a bare one.)"""
    from serve_app.app import build_app

    models = [
        {"name": "a", "model_source": "/m/a", "resources": {"gpus_per_worker": 0}},
        {"name": "b", "model_source": "/m/b", "resources": {"gpus_per_worker": 0}},
    ]
    app = build_app({"custom_models": models})
    backends = app._bound_deployment.init_args[1]
    # the embedded model stays the default of the features no custom model serves
    assert set(backends) == {"local", "vllm:a", "vllm:b"}
    assert set(app._bound_deployment.init_args[4]) == {"mock"}  # runs in the ingress
    deployment = backends["vllm:b"]._bound_deployment
    assert deployment.name == "VLLMBackend:b"
    assert deployment.func_or_class.__name__ == "VLLMBackend"
