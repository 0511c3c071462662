"""FireworksBackend through the real `openai` SDK against the Fireworks fake, and the
Fireworks completion path over HTTP: the GitLab ids answer once a key is set, `filter_score`
drops what the model was unsure of."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.calls import model_request
from core.errors import ModelError, ModelRateLimited
from core.provider_slices import fireworks_backend
from core.settings import Config
from core.types import Message
from deployments.auth import AuthService
from deployments.backends.fireworks import FireworksBackend
from deployments.backends.mock import MockBackend
from deployments.local_assembler import LocalAssembler
from deployments.prompt_assembler import PromptAssembler
from observability.telemetry import Telemetry
from routing.builder import final_catalogue
from routing.catalogue import target_of
from serve_app.api.app import create_app
from serve_app.gateway import Gateway
from serve_app.proxy.forwarder import ProviderProxy
from tests.fakes.fireworks import KEY, FakeFireworks
from tests.fakes.server import Behaviour
from tests.payloads import v2_body, v3_body


@pytest.fixture(scope="module")
def fireworks_server() -> Iterator[FakeFireworks]:
    fake = FakeFireworks().serve()
    yield fake
    fake.close()


@pytest.fixture
def fake(fireworks_server: FakeFireworks) -> FakeFireworks:
    fireworks_server.reset()
    fireworks_server.first_logprob = -0.05
    return fireworks_server


def settings(fake: FakeFireworks, key: str = KEY, **extra: Any) -> Config:
    return Config(
        fireworks={"api_key": key, "base_url": fake.url + "/inference/v1", **extra},
        auth={"bypass_external": True},
    )


def codestral(config: Config, ident: str = "codestral_2501_fireworks") -> Any:
    return target_of(final_catalogue(config).models[ident])


async def test_completion_is_codestral_fim_with_logprobs_and_the_clients_cache_hint(
    fake: FakeFireworks,
) -> None:
    config = settings(fake, models={"codestral-2501": "accounts/gitlab/deployedModels/cs-1"})
    fake.will(Behaviour(text="return f'hi {name}'"))
    request = model_request(codestral(config), prefix="def greet(name):\n    ", suffix="\n# end")
    request.prompt_cache = False  # X-Gitlab-Model-Prompt-Cache-Enabled: false
    result = await FireworksBackend(fireworks_backend(config)).generate(request)
    assert result.text == "return f'hi {name}'"
    assert result.score == pytest.approx(-0.05)
    sent = fake.last
    assert sent.path == "/inference/v1/completions"
    body = sent.json()
    assert body["model"] == "accounts/gitlab/deployedModels/cs-1"
    assert body["prompt"] == "</s>[SUFFIX]\n# end[PREFIX]def greet(name):\n    [MIDDLE]"
    assert body["logprobs"] == 1
    assert body["prompt_cache_max_len"] == 0
    assert body["max_tokens"] == 48 and body["temperature"] == 0.7
    request.prompt_cache = True  # the header's default: Fireworks keeps its prompt cache
    await FireworksBackend(fireworks_backend(config)).generate(request)
    assert "prompt_cache_max_len" not in fake.last.json()
    # ...unless the operator turned it off (AIGW_FIREWORKS__PROMPT_CACHE=false)
    no_cache = settings(fake, prompt_cache=False)
    await FireworksBackend(fireworks_backend(no_cache)).generate(request)
    assert fake.last.json()["prompt_cache_max_len"] == 0


async def test_unnamed_models_are_the_serverless_ones_and_streams_end_with_usage(
    fake: FakeFireworks,
) -> None:
    config = settings(fake)
    fake.will(Behaviour(pieces=("return ", "name"), usage=(7, 2)))
    request = model_request(codestral(config, "codestral_2508_fireworks"), prefix="x = ")
    chunks = [c async for c in FireworksBackend(fireworks_backend(config)).stream(request)]
    assert "".join(c.text for c in chunks) == "return name"
    assert (chunks[-1].final, chunks[-1].input_tokens, chunks[-1].output_tokens) == (True, 7, 2)
    assert fake.last.json()["model"] == "accounts/fireworks/models/codestral-2508"
    assert fake.last.json()["stream"] is True


async def test_chat_goes_to_chat_completions(fake: FakeFireworks) -> None:
    config = settings(fake)
    messages = [Message(role="user", content="hi")]
    request = model_request(codestral(config), kind="chat", messages=messages)
    result = await FireworksBackend(fireworks_backend(config)).generate(request)
    assert result.text == "hello there from the fake model" and result.score is None
    assert fake.last.path == "/inference/v1/chat/completions"


async def test_errors_map_to_ours(fake: FakeFireworks) -> None:
    config = settings(fake)
    request = model_request(codestral(config), prefix="x")
    fake.will(Behaviour(kind="status", status=429, headers={"retry-after": "3"}))
    with pytest.raises(ModelRateLimited):
        await FireworksBackend(fireworks_backend(config)).generate(request)
    wrong_key = settings(fake, key="not-the-key")
    with pytest.raises(ModelError) as failed:
        await FireworksBackend(fireworks_backend(wrong_key)).generate(request)
    assert failed.value.upstream_status == 401
    assert "not-the-key" not in str(failed.value)


def client(config: Config, with_fireworks: bool = True) -> TestClient:
    backends: dict[str, Any] = {"mock": MockBackend()}
    if with_fireworks:
        backends["fireworks"] = FireworksBackend(fireworks_backend(config))
    gateway = Gateway(
        settings=config,
        catalogue=final_catalogue(config),
        auth=AuthService(config.auth_service()),
        assembler=LocalAssembler(PromptAssembler(config.prompt_assembler())),
        backends=backends,
    )
    app = create_app(
        gateway, config.api(), ProviderProxy(config), telemetry=Telemetry.in_memory(config)
    )
    return TestClient(app, raise_server_exceptions=False)


def completions(c: TestClient, **extra: Any) -> Any:
    return c.post("/v2/code/completions", json=v2_body(**extra))


def test_the_gitlab_ids_answer_once_a_key_is_set_and_are_the_default(
    fake: FakeFireworks,
) -> None:
    config = settings(fake)  # a client per request: TestClient runs each in a new loop
    fake.will(Behaviour(text="return name"), Behaviour(text="return 1"))
    named = completions(
        client(config), model_provider="gitlab", model_name="codestral_2508_fireworks"
    )
    assert named.status_code == 200
    assert named.json()["choices"][0]["text"] == "return name"
    assert named.json()["model"]["engine"] == "fireworks_ai"
    default = completions(client(config))  # upstream's default completion model
    assert default.json()["model"]["engine"] == "fireworks_ai"
    meta = {"provider": "fireworks_ai", "name": "codestral-2501"}
    fake.will(Behaviour(text="ok"))
    body = {**v2_body(), "model_metadata": meta}
    assert client(config).post("/v2/code/completions", json=body).status_code == 200
    assert fake.last.json()["model"] == "accounts/fireworks/models/codestral-2501"


def test_the_callers_global_user_id_reaches_fireworks_as_session_affinity(
    fake: FakeFireworks,
) -> None:
    # Upstream's session header: Fireworks routes one user's completions to the replica that
    # holds their prompt cache. Fireworks is the default completion model here.
    config = settings(fake)
    user = {"X-Gitlab-Global-User-Id": "4b1d-77"}
    fake.will(*[Behaviour(text="return name")] * 3)
    sent = []
    for path, body in (("/v2/code/completions", v2_body()), ("/v4/code/suggestions", v3_body())):
        assert client(config).post(path, json=body, headers=user).status_code == 200
        sent.append(fake.last.headers.get("x-session-affinity"))
    assert sent == ["4b1d-77"] * 2
    # No global user id from the caller: no header, not an empty one.
    assert completions(client(config)).status_code == 200
    assert "x-session-affinity" not in fake.last.headers


def test_without_a_key_the_ids_stay_503(fake: FakeFireworks) -> None:
    c = client(settings(fake, key=""), with_fireworks=False)
    r = completions(c, model_provider="gitlab", model_name="codestral_2501_fireworks")
    assert (r.status_code, r.json()) == (503, {"detail": "Inference failed"})


@pytest.mark.parametrize(("logprob", "kept"), [(-0.05, True), (-3.0, False)])
def test_filter_score_drops_a_completion_below_the_models_threshold(
    fake: FakeFireworks, logprob: float, kept: bool
) -> None:
    thresholds = {"fireworks_score_threshold": {"codestral-2508": -1.0}}
    c = client(settings(fake).model_copy(update={"feature_flags": _flags(thresholds)}))
    fake.first_logprob = logprob
    fake.will(Behaviour(text="return name"))
    r = completions(c, model_provider="gitlab", model_name="codestral_2508_fireworks")
    assert r.status_code == 200
    assert bool(r.json()["choices"]) is kept


def _flags(values: dict[str, Any]) -> Any:
    return Config(feature_flags=values).feature_flags


def test_upstreams_setting_names_configure_fireworks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIGW_MODEL_KEYS__FIREWORKS_PROVIDER_API_KEY", "fw-upstream")
    monkeypatch.setenv("AIGW_FIREWORKS_API_BASE_URL", "https://fw.example/inference/v1")
    monkeypatch.setenv("AIGW_FEATURE_FLAGS__FIREWORKS_SCORE_THRESHOLD", '{"codestral-2501": -2}')
    config = Config()
    assert config.fireworks.api_key.get_secret_value() == "fw-upstream"
    assert config.fireworks.base_url == "https://fw.example/inference/v1"
    assert config.prompt_assembler().score_thresholds == {"codestral-2501": -2.0}
    monkeypatch.setenv("AIGW_FIREWORKS__API_KEY", "fw-ours")
    assert Config().fireworks.api_key.get_secret_value() == "fw-ours"


def test_the_backend_binds_only_with_a_key() -> None:
    from deployments.backends.registry import configured_providers

    assert "fireworks" not in configured_providers(Config())
    provider = configured_providers(Config(fireworks={"api_key": "k"}))["fireworks"]
    assert (provider.cls, provider.deployment) == (FireworksBackend, "FireworksBackend")
