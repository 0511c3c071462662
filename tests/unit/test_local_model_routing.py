"""The embedded model is the default whenever no provider backend is configured."""

from __future__ import annotations

from pathlib import Path

import yaml

from core.settings import Config, LocalModelSettings
from routing.catalogue import load_catalogue
from routing.local_model import with_local_model
from routing.mock_overlay import with_mock_overlay
from routing.model_router import ModelRouter
from serve_app.app import built_deployments
from serve_app.cli import load_serve_config

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ("code_completions", "code_generations", "duo_chat")


def test_every_feature_falls_back_to_the_local_model_before_the_echo_mock() -> None:
    router = ModelRouter(load_catalogue(), ["mock", "local"])
    for feature in FEATURES:
        target = router.choose(feature)
        assert target.backend == "local", feature
        assert target.engine == "llama.cpp"
        assert target.name == "SmolLM2-135M-Instruct.Q4_1"
        assert target.family == ("smollm2", "base")


def test_mock_mode_still_answers_with_the_echo_mock() -> None:
    router = ModelRouter(with_mock_overlay(load_catalogue()), ["mock", "local"])
    assert router.choose("code_completions").backend == "mock"


def test_a_configured_provider_still_wins_over_the_local_model() -> None:
    router = ModelRouter(load_catalogue(), ["mock", "local", "vertex"])
    assert router.choose("code_completions").backend == "vertex"


def test_catalogue_follows_a_customers_own_gguf() -> None:
    settings = LocalModelSettings(
        path="/models/qwen2.5-coder-0.5b-q4.gguf", family=["qwen", "base"], context_length=4096
    )
    catalogue = with_local_model(load_catalogue(), settings)
    model = catalogue.models["smollm2_135m_local"]
    assert model.family == ("qwen", "base")
    assert model.max_context_tokens == 4096
    assert model.provider_model == "qwen2.5-coder-0.5b-q4"
    assert (
        catalogue.models["codestral_2508_vertex"]
        == load_catalogue().models["codestral_2508_vertex"]
    )


def test_local_model_settings_come_from_the_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AIGW_LOCAL_MODEL__PATH", "/m/x.gguf")
    monkeypatch.setenv("AIGW_LOCAL_MODEL__FAMILY", '["llama3", "base"]')
    monkeypatch.setenv("AIGW_LOCAL_MODEL__CONTEXT_LENGTH", "4096")
    monkeypatch.setenv("AIGW_LOCAL_MODEL__THREADS", "4")
    local = Config().local_model
    assert (local.path, local.family, local.context_length, local.threads) == (
        "/m/x.gguf",
        ["llama3", "base"],
        4096,
        4,
    )


def test_local_backend_is_built_unless_mock_mode() -> None:
    assert "LocalBackend" in built_deployments({"settings": {"mock_model_responses": False}})
    assert "LocalBackend" not in built_deployments({"settings": {"mock_model_responses": True}})


def test_local_backend_placed_in_the_ingress_is_not_its_own_deployment() -> None:
    args = {"settings": {"mock_model_responses": False}, "providers_in_ingress": ["mock", "local"]}
    assert built_deployments(args) == {"Ingress"}


def test_serve_config_lists_local_backend_and_mock_mode_drops_it(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = ROOT / "serve_config.yaml"
    names = [d["name"] for d in yaml.safe_load(path.read_text())["applications"][0]["deployments"]]
    assert "LocalBackend" in names
    monkeypatch.setenv("AIGW_MOCK_MODEL_RESPONSES", "false")
    served = load_serve_config(path, Config())["applications"][0]["deployments"]
    assert "LocalBackend" in [d["name"] for d in served]
    monkeypatch.setenv("AIGW_MOCK_MODEL_RESPONSES", "true")
    served = load_serve_config(path, Config())["applications"][0]["deployments"]
    assert "LocalBackend" not in [d["name"] for d in served]
