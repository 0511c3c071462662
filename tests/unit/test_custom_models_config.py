"""`custom_models` in serve_config.yaml: validation, catalogue entries, feature defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from core.types import Sampling
from deployments.backends.vllm.spec import CustomModelSpec, parse_custom_models
from routing.catalogue import load_catalogue
from routing.custom_models import with_custom_models
from routing.model_router import ModelRouter

ROOT = Path(__file__).resolve().parents[2]
# Features whose requests cannot wait for a cold start (minutes for a big model, past GitLab's
# 60 s timeout): a model serving one of them must never scale to zero.
ALWAYS_WARM = {"duo_chat", "code_completions"}


def assert_no_cold_start_for(specs: list[CustomModelSpec]) -> None:
    for spec in specs:
        if ALWAYS_WARM & set(spec.features):
            assert spec.autoscaling.min_replicas >= 1, f"{spec.name} may scale to zero"


def test_minimal_spec_defaults():
    spec = CustomModelSpec(name="llama3-8b", model_source="/models/llama3")
    assert spec.backend == "vllm:llama3-8b"
    assert spec.deployment_name == "VLLMBackend:llama3-8b"
    assert spec.resources.on_gpu and spec.autoscaling.min_replicas == 1
    assert spec.context_tokens == 2048


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "has space", "model_source": "/m"},
        {"name": "m", "model_source": ""},
        {"name": "m", "model_source": "/m", "autoscaling": {"min_replicas": 3, "max_replicas": 2}},
        {"name": "m", "model_source": "/m", "autoscaling": {"target_ongoing_requests": 0}},
        {"name": "m", "model_source": "/m", "engine_kwargs": {"model": "/other"}},
        {"name": "m", "model_source": "/m", "sampling": {"stream": True}},
        {"name": "m", "model_source": "/m", "fim_template": "{prefix} only"},
        {"name": "m", "model_source": "/m", "features": ["not_a_feature"]},
        {"name": "m", "model_source": "/m", "unknown_key": 1},
    ],
)
def test_bad_specs_are_refused_at_start_up(bad):
    with pytest.raises(ValidationError):
        CustomModelSpec.model_validate(bad)


def test_scale_to_zero_is_allowed():
    spec = CustomModelSpec.model_validate(
        {"name": "m", "model_source": "/m", "autoscaling": {"min_replicas": 0, "max_replicas": 4}}
    )
    assert spec.autoscaling.serve_config() == {
        "min_replicas": 0,
        "max_replicas": 4,
        "target_ongoing_requests": 16,
    }


def test_duplicate_names_are_refused():
    with pytest.raises(ValueError, match="declared twice"):
        parse_custom_models(
            [{"name": "m", "model_source": "/a"}, {"name": "m", "model_source": "/b"}]
        )


def test_custom_models_join_the_catalogue_and_take_their_features():
    specs = parse_custom_models(
        [
            {
                "name": "coder",
                "model_source": "/m/coder",
                "family": ["codestral", "mistral"],
                "engine_kwargs": {"max_model_len": 8192},
                "features": ["code_completions"],
                "params": {"max_tokens": 48},
            },
            {"name": "chatty", "model_source": "/m/chat", "features": ["code_generations"]},
        ]
    )
    base = load_catalogue()
    catalogue = with_custom_models(base, specs)
    coder = catalogue.model("coder")
    assert coder is not None and coder.backend == "vllm:coder" and coder.engine == "vllm"
    assert coder.max_context_tokens == 8192
    completions = catalogue.features["code_completions"]
    assert completions.default_model == "coder"
    assert completions.fallback_models[0] == base.features["code_completions"].default_model
    assert "coder" in completions.selectable_models
    assert catalogue.features["code_generations"].default_model == "chatty"
    assert base.features["code_completions"].default_model != "coder"  # base unchanged
    names = [m["identifier"] for m in catalogue.definitions()["models"]]
    assert {"coder", "chatty"} <= set(names)

    router = ModelRouter(catalogue, ["mock", "vllm:coder", "vllm:chatty"])
    target = router.choose("code_completions")
    assert (target.backend, target.name, target.engine) == ("vllm:coder", "coder", "vllm")
    assert target.family == ("codestral", "mistral")
    assert (target.sampling, target.pinned_sampling) == (Sampling(max_tokens=48), True)
    # A model whose deployment is not bound falls back to the feature's next model.
    without = ModelRouter(catalogue, ["mock"])
    assert without.choose("code_completions").backend == "mock"


def test_a_custom_model_may_not_shadow_a_catalogue_model():
    with pytest.raises(ValueError, match="clashes"):
        clash = parse_custom_models([{"name": "mock_echo", "model_source": "/m"}])
        with_custom_models(load_catalogue(), clash)


def test_the_documented_example_parses():
    doc = (ROOT / "docs" / "custom-models.md").read_text()
    block = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    args = yaml.safe_load(block)["applications"][0]["args"]
    specs = parse_custom_models(args["custom_models"])
    assert len(specs) >= 2
    assert any("duo_chat" in spec.features for spec in specs)
    assert_no_cold_start_for(specs)


def test_the_kuberay_manifest_embeds_a_valid_serve_config():
    from ray.serve.schema import ServeDeploySchema

    manifest = yaml.safe_load((ROOT / "deploy" / "kuberay" / "rayservice-vllm.yaml").read_text())
    assert manifest["kind"] == "RayService"
    serve_config = yaml.safe_load(manifest["spec"]["serveConfigV2"])
    ServeDeploySchema.model_validate(serve_config)
    app = serve_config["applications"][0]
    assert app["import_path"] == "serve_app.app:build_app"
    specs = parse_custom_models(app["args"]["custom_models"])
    assert all(spec.resources.on_gpu for spec in specs)
    assert any("duo_chat" in spec.features for spec in specs)
    assert_no_cold_start_for(specs)


def test_model_metadata_naming_a_custom_model_runs_it_in_the_graph():
    from routing.selection import ModelSelection

    specs = parse_custom_models(
        [
            {"name": "big", "model_source": "/b", "features": ["code_generations"]},
            {"name": "small", "model_source": "/s", "features": ["code_completions"]},
        ]
    )
    catalogue = with_custom_models(load_catalogue(), specs)
    backends = ["mock", "openai_compat", "vllm:big", "vllm:small"]
    chooser = ModelRouter(catalogue, backends, custom_endpoints=True)

    def metadata(identifier: str) -> ModelSelection:
        return ModelSelection(
            provider="openai",
            name="llama3",
            endpoint="http://vllm.internal/v1",
            identifier=identifier,
            from_metadata=True,
        )

    target = chooser.choose("code_completions", metadata("custom_openai/big"))
    assert (target.backend, target.name, target.engine) == ("vllm:big", "big", "vllm")
    assert target.endpoint is None  # in the graph: the caller's endpoint is not called
    # A model this gateway does not serve goes to the caller's OpenAI-compatible server.
    other = chooser.choose("code_completions", metadata("custom_openai/elsewhere"))
    assert other.backend == "openai_compat" and other.endpoint == "http://vllm.internal/v1"
    # The first model declared for a feature is its default.
    assert chooser.choose("code_completions", None).name == "small"


SPEC = {"name": "m", "model_source": "/models/m", "features": ["code_completions"]}


def test_mock_mode_binds_no_vllm_deployment():
    from serve_app.app import build_app

    app = build_app({"settings": {"mock_model_responses": True}, "custom_models": [SPEC]})
    backends, in_ingress = app._bound_deployment.init_args[1], app._bound_deployment.init_args[4]
    assert set(backends) == set() and set(in_ingress) == {"mock"}  # only the echo, in-process


def test_custom_models_without_vllm_fail_start_up_with_a_clear_message():
    import importlib.util

    from serve_app.app import build_app

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    with pytest.raises(RuntimeError, match="custom_models need vLLM"):
        build_app({"custom_models": [SPEC]})


def test_bad_custom_model_fails_the_build():
    from serve_app.app import build_app

    with pytest.raises(ValidationError):
        build_app({"settings": {"mock_model_responses": True}, "custom_models": [{"name": "m"}]})


def test_the_builder_binds_the_final_catalogue_to_the_ingress():
    """Built once, from the same settings and specs the tests' gateways use."""
    from core.settings import Config
    from routing.builder import final_catalogue
    from serve_app.app import build_app

    settings = {"mock_model_responses": True, "local_model": {"context_length": 4096}}
    app = build_app({"settings": settings, "custom_models": [SPEC]})
    catalogue = app._bound_deployment.init_args[5]
    assert catalogue == final_catalogue(Config(**settings), parse_custom_models([SPEC]))
    assert catalogue.features["code_completions"].default_model == "m"
    assert catalogue.models["smollm2_135m_local"].max_context_tokens == 4096
