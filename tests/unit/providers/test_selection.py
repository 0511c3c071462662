"""ModelRouter decisions without HTTP: which target a selection resolves to."""

from __future__ import annotations

import pytest

from core.errors import ModelUnavailable, UnprocessableError
from routing.catalogue import load_catalogue
from routing.mock_overlay import with_mock_overlay
from routing.model_router import ModelRouter
from routing.selection import ModelSelection

CATALOGUE = load_catalogue()


def chooser(*backends: str, mock: bool = False) -> ModelRouter:
    catalogue = with_mock_overlay(CATALOGUE) if mock else CATALOGUE
    return ModelRouter(catalogue, ("mock", *backends), custom_endpoints=True)


def test_metadata_self_hosted_family_sets_stops_limits_and_endpoint() -> None:
    sel = ModelSelection(
        provider="openai",
        name="codegemma",
        endpoint="http://vllm:8000/v1/",
        api_key="k",
        identifier="custom_openai/google/codegemma-7b",
        from_metadata=True,
    )
    target = chooser("openai_compat").choose("code_completions", sel)
    assert target.backend == "openai_compat"
    assert target.identifier == "google/codegemma-7b"
    assert target.endpoint == "http://vllm:8000/v1"
    assert target.max_input_tokens == 8192
    assert "<|fim_prefix|>" in target.stop
    assert target.family[0] == "codegemma" and target.family[-1] == "base"
    assert target.api_key is not None and target.api_key.get_secret_value() == "k"


def test_generation_stops_differ_from_completion_stops() -> None:
    sel = ModelSelection(provider="litellm", name="mistral", endpoint="http://m/v1")
    gen = chooser("openai_compat").choose("code_generations", sel)
    comp = chooser("openai_compat").choose("code_completions", sel)
    assert list(gen.stop) == ["</new_code>"]
    assert list(comp.stop) == []


def test_gitlab_identifier_and_feature_setting() -> None:
    c = chooser("anthropic", "vertex")
    meta = ModelSelection(
        provider="gitlab", identifier="claude_sonnet_4_5_20250929_vertex", from_metadata=True
    )
    assert c.choose("code_generations", meta).identifier == "claude-sonnet-4-5@20250929"
    default = ModelSelection(
        provider="gitlab", feature_setting="code_generations", from_metadata=True
    )
    assert c.choose("code_completions", default).backend == "anthropic"


def test_explicit_choice_never_silently_falls_back() -> None:
    meta = ModelSelection(
        provider="gitlab", identifier="claude_sonnet_4_5_20250929", from_metadata=True
    )
    with pytest.raises(ModelUnavailable):
        chooser().choose("code_generations", meta)
    assert chooser().choose("code_generations", None).backend == "mock"  # the default may


def test_validation_still_applies_in_mock_mode() -> None:
    with pytest.raises(UnprocessableError):
        chooser(mock=True).choose(
            "code_completions", ModelSelection(provider="anthropic", name="x")
        )
    sel = ModelSelection(provider="litellm", name="codestral", endpoint="http://m/v1")
    assert chooser(mock=True).choose("code_completions", sel).backend == "mock"


def test_v3_gitlab_identifier_in_model_name() -> None:
    sel = ModelSelection(provider="vertex-ai", name="codestral_2508_vertex")
    assert chooser("vertex").choose("code_completions", sel).identifier == "codestral-2508"
