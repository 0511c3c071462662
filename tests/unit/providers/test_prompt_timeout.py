"""A prompt file's `params.timeout` (API.md §5.2, §6.4) is the model call's deadline."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from fastapi.testclient import TestClient

from core.settings import Config
from deployments.auth import AuthService
from deployments.backends.mock import MockBackend
from deployments.backends.openai_compat import OpenAICompatBackend
from deployments.local_assembler import LocalAssembler
from deployments.prompt_assembler import PromptAssembler
from deployments.prompts.registry import DEFINITIONS_DIR
from observability.telemetry import Telemetry
from routing.builder import final_catalogue
from routing.resilience.policy import RetryPolicy
from serve_app.api.app import create_app
from serve_app.gateway import Gateway
from serve_app.proxy.forwarder import ProviderProxy
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Behaviour
from tests.unit.providers.test_model_choice_api import litellm_body

ATTEMPTS = RetryPolicy().attempts_per_target

CODESTRAL = Path("code_suggestions/completions/codestral/1.0.0.yml")


def client_with_prompt_timeout(tmp_path: Path, timeout: str) -> TestClient:
    """The shipped prompts, with the Codestral completion prompt's `timeout` set."""
    definitions = tmp_path / "definitions"
    shutil.copytree(DEFINITIONS_DIR, definitions)
    path = definitions / CODESTRAL
    path.write_text(path.read_text().replace("timeout: 60", f"timeout: {timeout}"))
    # The gateway's own deadlines are long: only the prompt's can cut the call short.
    config = Config(
        auth={"bypass_external": True},
        custom_models={"enabled": True},
        model_timeouts={"first_byte_s": 10, "total_s": 10},
    )
    gateway = Gateway(
        settings=config,
        catalogue=final_catalogue(config),
        auth=AuthService(config.auth_service()),
        assembler=LocalAssembler(PromptAssembler(definitions_dir=definitions)),
        backends={
            "mock": MockBackend(),
            "openai_compat": OpenAICompatBackend(config.openai_compat_backend()),
        },
    )
    app = create_app(
        gateway, config.api(), ProviderProxy(config), telemetry=Telemetry.in_memory(config)
    )
    return TestClient(app, raise_server_exceptions=False)


def test_a_prompts_timeout_cuts_a_slow_model_call(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    # Every attempt the routing policy makes (a first-byte timeout is retried once) is slow.
    fake_openai.will(*[Behaviour(kind="slow", delay_s=2.0)] * ATTEMPTS)
    client = client_with_prompt_timeout(tmp_path, "0.4")
    started = time.monotonic()
    r = client.post("/v2/code/completions", json=litellm_body(fake_openai))
    elapsed = time.monotonic() - started
    assert r.status_code == 503 and r.json() == {"detail": "Inference failed"}
    # Each attempt gets the prompt's 0.4 s, not the gateway's 10 s nor the model's 2 s.
    assert elapsed < 0.4 * ATTEMPTS + 1.0


def test_a_prompt_with_time_enough_gets_its_answer(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    fake_openai.will(Behaviour(kind="slow", delay_s=0.2, text="return 1"))
    r = client_with_prompt_timeout(tmp_path, "5").post(
        "/v2/code/completions", json=litellm_body(fake_openai)
    )
    assert r.status_code == 200 and r.json()["choices"][0]["text"] == "return 1"
