"""Provider settings come from the upstream variable names; backends bind only when set."""

from __future__ import annotations

import pytest

from core.settings import Config
from deployments.backends.registry import configured_providers


def test_plain_provider_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://anthropic.local")
    monkeypatch.setenv("AIGW_GOOGLE_CLOUD_PLATFORM__PROJECT", "proj")
    monkeypatch.setenv("AIGW_GOOGLE_CLOUD_PLATFORM__LOCATION", "europe-west4")
    monkeypatch.setenv("AIGW_MODEL_TIMEOUTS__FIRST_BYTE_S", "2.5")
    config = Config()
    assert config.anthropic_api_key.get_secret_value() == "sk-ant-env"
    assert config.anthropic_base_url == "http://anthropic.local"
    # The Vertex text-model group inherits what it leaves unset from the GCP group.
    assert config.vertex_text_model.project == "proj"
    assert config.vertex_text_model.endpoint == "europe-west4-aiplatform.googleapis.com"
    assert config.model_timeouts.first_byte_s == 2.5
    assert "sk-ant-env" not in repr(config)


def test_backends_bind_only_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert configured_providers(Config()) == {}
    config = Config(
        anthropic_api_key="k",
        custom_models={"enabled": True},
        google_cloud_platform={"project": "p"},
    )
    assert set(configured_providers(config)) == {"anthropic", "openai_compat", "vertex"}
