"""Which targets a feature's request may move to when its model fails (ModelRouter.route)."""

from __future__ import annotations

from core.settings import Config
from routing.builder import final_catalogue
from routing.model_router import ModelRouter
from routing.selection import ModelSelection


def router(*backends: str, **settings: object) -> ModelRouter:
    config = Config(**settings)  # type: ignore[arg-type]
    return ModelRouter(final_catalogue(config), backends)


def test_the_echo_mock_is_never_a_fallback_of_a_real_model() -> None:
    """A gateway whose embedded model fails must answer with the contract's error, not with
    the mock's echo of the prompt reported as a suggestion."""
    route = router("local", "mock").route("code_completions")
    assert [key for key, _ in route.candidates] == ["smollm2_135m_local"]


def test_fallbacks_follow_the_feature_list_skipping_unconfigured_backends() -> None:
    route = router("anthropic", "local", "mock", anthropic_api_key="sk-ant").route(
        "code_generations"
    )
    assert [key for key, _ in route.candidates] == [
        "claude_sonnet_4_5_20250929",
        "smollm2_135m_local",
    ]
    assert not route.explicit


def test_a_named_model_has_no_fallback_the_operator_did_not_write() -> None:
    named = ModelSelection(
        provider="gitlab", identifier="claude_sonnet_4_5_20250929", from_metadata=True
    )
    r = router("anthropic", "local", "mock", anthropic_api_key="sk-ant")
    route = r.route("code_generations", named)
    assert [key for key, _ in route.candidates] == ["claude_sonnet_4_5_20250929"]
    assert route.explicit
    written = r.route(
        "code_generations", named, {"claude_sonnet_4_5_20250929": ["smollm2_135m_local"]}
    )
    assert [key for key, _ in written.candidates] == [
        "claude_sonnet_4_5_20250929",
        "smollm2_135m_local",
    ]
