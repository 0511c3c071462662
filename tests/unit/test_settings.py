"""Settings: AIGW_* with `__` nesting, `.env`, upstream defaults."""

from __future__ import annotations

from core.settings import Config


def test_upstream_defaults(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    config = Config()
    assert config.fastapi.api_port == 5000
    assert config.fastapi.metrics_port == 8082
    assert config.fastapi.docs_url is None
    assert config.cloud_connector_service_name == "gitlab-ai-gateway"
    assert config.gitlab_url == "https://gitlab.com"
    assert config.mock_model_responses is False
    assert config.auth.bypass_external is False
    assert config.logging.format_json is True
    assert config.google_cloud_platform.location == "us-central1"


def test_nested_environment_variables(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AIGW_FASTAPI__API_PORT", "6000")
    monkeypatch.setenv("AIGW_AUTH__BYPASS_EXTERNAL", "true")
    monkeypatch.setenv("AIGW_FEATURE_FLAGS__EXCL_POST_PROCESS", '["strip_whitespaces"]')
    config = Config()
    assert config.fastapi.api_port == 6000
    assert config.auth.bypass_external is True
    assert config.feature_flags.excl_post_process == ["strip_whitespaces"]
    assert config.explicitly_set("fastapi", "api_port")
    assert not config.explicitly_set("fastapi", "api_host")


def test_dotenv_file_is_read_and_env_wins(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("AIGW_MOCK_MODEL_RESPONSES=true\nAIGW_FASTAPI__API_PORT=7000\n")
    monkeypatch.setenv("AIGW_FASTAPI__API_PORT", "7001")
    config = Config()
    assert config.mock_model_responses is True
    assert config.fastapi.api_port == 7001


def test_secrets_do_not_print(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AIGW_SELF_SIGNED_JWT__SIGNING_KEY", "-----BEGIN PRIVATE KEY-----secret")
    config = Config()
    assert "secret" not in repr(config) and "secret" not in str(config.model_dump())


def test_the_api_slice_carries_what_the_http_layer_reads(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    config = Config(
        cloud_connector_service_name="gw",
        mock_model_responses=True,
        google_cloud_platform={"location": "asia-east1"},
        feature_flags={"disallowed_flags": {"saas": ["x"]}},
        proxy_endpoints={"saas_enabled": "1,2"},
        fastapi={"docs_url": "/docs", "openapi_url": "/openapi.json"},
        logging={"enable_request_logging": True},
    )
    api = config.api()
    assert api.region == "asia-east1"
    assert api.cloud_connector_service_name == "gw"
    assert api.disallowed_flags == {"saas": ["x"]}
    assert api.proxy_endpoints.saas_enabled == "1,2"
    assert api.mock_model_responses is True
    assert (api.docs_url, api.openapi_url, api.redoc_url) == ("/docs", "/openapi.json", None)
    assert api.verbose_validation_errors is True
    assert Config().api().region == "us-central1"
