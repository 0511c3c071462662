"""The PromptAssembler on the shipped prompt registry and the real tokenizer."""

from __future__ import annotations

import json
import math

import pytest
from fastapi.testclient import TestClient

from core.model_params import ModelParams
from core.settings import Config
from core.types import ContextSnippet, Identity, ModelTarget, SuggestionInput
from deployments.backends.mock import MockBackend
from deployments.local_assembler import LocalAssembler
from deployments.prompt_assembler import CHAT_OVERHEAD_TOKENS, PromptAssembler
from deployments.prompts import NoMatchingVersionError, PromptDefinitionError, UnknownPromptError
from deployments.suggestions.tokenizer import default_tokenizer
from observability.telemetry import Telemetry
from routing.builder import final_catalogue
from serve_app.api.app import create_app
from serve_app.gateway import Gateway
from serve_app.proxy.forwarder import ProviderProxy
from tests.payloads import v3_body

PREFIX = "import os\n\ndef read(path):\n    "
SUFFIX = "\n\nprint(read('x'))\n"


@pytest.fixture(scope="module")
def assembler() -> PromptAssembler:
    return PromptAssembler()


def target(
    *family: str, max_input_tokens: int = 2048, pinned_params: bool = False, **params: object
) -> ModelTarget:
    """A model with catalogue `params` as operators write them."""
    return ModelTarget(
        backend="local",
        engine="llama.cpp",
        name="smollm2",
        family=family or ("base",),
        max_input_tokens=max_input_tokens,
        pinned_sampling=pinned_params,
        **ModelParams.model_validate(params).target_fields(),
    )


def completion(**extra: object) -> SuggestionInput:
    fields: dict[str, object] = {
        "feature": "code_completions",
        "file_name": "src/io.py",
        "content_above_cursor": PREFIX,
        "content_below_cursor": SUFFIX,
    }
    return SuggestionInput.model_validate({**fields, **extra})


def generation(**extra: object) -> SuggestionInput:
    fields: dict[str, object] = {
        "feature": "code_generations",
        "file_name": "src/io.py",
        "content_above_cursor": PREFIX + "# read the file and return its lines\n",
        "content_below_cursor": "",
    }
    return SuggestionInput.model_validate({**fields, **extra})


def test_fim_completion_sends_prefix_and_suffix_with_the_prompts_params(assembler):
    out = assembler.assemble_suggestion(completion(), target("codestral", "mistral"))
    request = out.request
    assert (request.kind, request.prefix, request.suffix) == ("completion", PREFIX, SUFFIX)
    assert request.stop == ["[INST]", "[/INST]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]"]
    assert (request.max_tokens, request.temperature) == (64, 0.32)  # the codestral file
    tok = default_tokenizer()
    assert out.usage.input_tokens == tok.count(PREFIX) + tok.count(SUFFIX)
    assert out.lang == "python" and out.language_name == "Python"


def test_an_operators_pinned_params_win_over_the_prompt_file(assembler):
    """A custom model's params in serve_config.yaml are the operator's word on that model."""
    catalogue = assembler.assemble_suggestion(completion(), target("codestral", max_tokens=16))
    assert catalogue.request.max_tokens == 64  # a catalogue default yields to the file
    pinned = target("codestral", max_tokens=16, temperature=0.0, pinned_params=True)
    request = assembler.assemble_suggestion(completion(), pinned).request
    assert (request.max_tokens, request.temperature) == (16, 0.0)
    long = target("base", max_tokens=8000, pinned_params=True, max_input_tokens=8192)
    assert assembler.assemble_suggestion(generation(), long).request.max_tokens == 8000


def test_smollm2_family_and_fallback_to_base(assembler):
    local = assembler.assemble_suggestion(completion(), target("smollm2")).request
    assert local.stop[0] == "<|im_end|>" and local.max_tokens == 48
    unknown = assembler.assemble_suggestion(completion(), target("gpt")).request
    assert unknown.max_tokens == 64 and unknown.stop == []  # base/1.0.0.yml


def test_chat_completion_renders_messages_and_counts_them(assembler):
    out = assembler.assemble_suggestion(completion(), target("claude", completion_type="chat"))
    roles = [m.role for m in out.request.messages]
    assert out.request.kind == "chat" and roles == ["system", "user", "assistant"]
    assert out.request.messages[-1].content == "<new_code>"
    assert PREFIX in out.request.messages[1].content and SUFFIX in out.request.messages[1].content
    tok = default_tokenizer()
    content = sum(tok.count(m.content) for m in out.request.messages)
    # Each message and the answer's header cost the chat template's control tokens.
    assert out.usage.input_tokens == content + CHAT_OVERHEAD_TOKENS * 4


def test_text_completion_sends_the_user_template(assembler):
    out = assembler.assemble_suggestion(completion(), target("codestral", completion_type="text"))
    assert out.request.kind == "completion"
    assert out.request.prefix == f"<s>[SUFFIX]{SUFFIX}[PREFIX]{PREFIX}"
    assert out.request.suffix == ""


def test_template_tokens_shrink_the_budget(assembler):
    long_prefix = "x = 1\n" * 2000
    inp = completion(content_above_cursor=long_prefix)
    fim = assembler.assemble_suggestion(inp, target("base", max_input_tokens=500)).request
    chat = assembler.assemble_suggestion(
        inp, target("base", max_input_tokens=500, completion_type="chat")
    )
    tok = default_tokenizer()
    # FIM sends no template: 93 % of 500 for the prefix; chat loses the template's tokens.
    assert tok.count(fim.prefix) == 465
    user = chat.request.messages[1].content
    assert 0 < user.count("x = 1") < fim.prefix.count("x = 1")
    assert chat.usage.input_tokens <= 500


def test_context_is_budgeted_and_reported(assembler):
    context = [ContextSnippet(name="util.py", content="def helper():\n    return 1\n" * 200)]
    out = assembler.assemble_suggestion(
        completion(context=context),
        target("codestral", max_input_tokens=1000, context_max_percent=0.3),
    )
    usage = out.usage
    assert usage.context_tokens_sent > 1000
    assert usage.context_tokens_used == 300  # floor(1000 * 0.3)
    assert out.request.prefix.startswith("def helper():") and out.request.prefix.endswith(PREFIX)


def test_generation_uses_registry_prompt_with_enhancer(assembler):
    out = assembler.assemble_suggestion(
        generation(
            prompt_enhancer={
                "libraries": ["requests", "pydantic"],
                "user_instruction": "Read the file with pathlib.",
                "prefix": "must not replace the real prefix",
            }
        ),
        target("claude"),
    )
    system, user, prefill = out.request.messages
    assert out.request.kind == "chat" and out.request.stop == ["</new_code>"]
    assert "requests, pydantic" in system.content and "Python" in system.content
    assert "Read the file with pathlib." in user.content and PREFIX in user.content
    assert prefill.content == "<new_code>"


def test_generation_prompt_id_and_version_errors(assembler):
    with pytest.raises(NoMatchingVersionError) as err:
        assembler.assemble_suggestion(generation(prompt_version="^9.0.0"), target("claude"))
    assert err.value.status_code == 400
    with pytest.raises(UnknownPromptError):
        assembler.assemble_suggestion(generation(prompt_id="no/such/prompt"), target())
    exact = assembler.assemble_suggestion(generation(prompt_version="1.0.0"), target("mistral"))
    assert exact.request.stop == ["</new_code>"]


def test_caller_prompts_are_sent_untruncated(assembler):
    raw = "x" * 50_000
    out = assembler.assemble_suggestion(completion(raw_prompt=raw), target(max_input_tokens=10))
    assert out.request.prefix == raw and out.usage.input_tokens > 10


# -- through the HTTP API (mock backend echoes what it was asked) -------------------------
def test_v2_completion_reports_real_token_counts(client):
    body = {
        "prompt_version": 1,
        "current_file": {
            "file_name": "a.py",
            "content_above_cursor": PREFIX,
            "content_below_cursor": SUFFIX,
        },
    }
    r = client.post("/v2/code/completions", json=body)
    assert r.status_code == 200
    meta = r.json()["model"]["tokens_consumption_metadata"]
    tok = default_tokenizer()
    assert meta["input_tokens"] == tok.count(PREFIX) + tok.count(SUFFIX)


def test_v4_generation_bad_prompt_version_is_a_400_with_detail(client):
    body = v3_body(
        "code_editor_generation",
        prompt_id="code_suggestions/generations",
        prompt_version="^42.0.0",
    )
    r = client.post("/v4/code/suggestions", json=body)
    assert r.status_code == 400
    assert "^42.0.0" in r.json()["detail"]
    r = client.post(
        "/v4/code/suggestions",
        json=v3_body("code_editor_generation", prompt_id="nope/nope", stream=True),
    )
    assert r.status_code == 404 and r.json() == {"detail": "Prompt 'nope/nope' not found"}


def test_v4_generation_with_enhancer_reaches_the_model(client):
    body = v3_body(
        "code_editor_generation",
        prompt_id="code_suggestions/generations",
        prompt_version="^1.0.0",
        prompt_enhancer={"related_files": ['<file_content file_name="x.go">pkg</file_content>']},
    )
    r = client.post("/v4/code/suggestions", json=body)
    assert r.status_code == 200
    echoed = json.loads(r.json()["choices"][0]["text"].strip()[len("echo: ") :])
    assert 'file_name="x.go"' in echoed["messages"][0]["content"]


# -- start-up and authorization ---------------------------------------------------------------
def test_broken_prompt_file_fails_assembler_start(tmp_path):
    bad = tmp_path / "code_suggestions" / "generations" / "base" / "1.0.0.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "name: x\nunit_primitive: generate_code\nprompt_template: {user: hi}\nmodle: {}\n"
    )
    with pytest.raises(PromptDefinitionError, match=r"1\.0\.0\.yml: unknown key 'modle'"):
        PromptAssembler(definitions_dir=tmp_path)


class ScopedAuth:
    def __init__(self, *scopes: str) -> None:
        self.identity = Identity(issuer="gitlab.com", scopes=scopes)

    async def authenticate(self, headers: object) -> Identity:
        return self.identity


def test_registry_prompt_needs_its_unit_primitive(tmp_path):
    path = tmp_path / "custom" / "chatty" / "base" / "1.0.0.yml"
    path.parent.mkdir(parents=True)
    path.write_text(
        "name: Chatty\nunit_primitive: duo_chat\nprompt_template: {user: '{{prefix}}'}\n"
    )
    config = Config(mock_model_responses=True)

    def client_with(*scopes: str) -> TestClient:
        gateway = Gateway(
            settings=config,
            catalogue=final_catalogue(config),
            auth=ScopedAuth(*scopes),
            assembler=LocalAssembler(PromptAssembler(definitions_dir=tmp_path)),
            backends={"mock": MockBackend()},
        )
        return TestClient(
            create_app(
                gateway, config.api(), ProviderProxy(config), telemetry=Telemetry.in_memory(config)
            ),
            raise_server_exceptions=False,
        )

    body = v3_body("code_editor_generation", prompt_id="custom/chatty")
    r = client_with("generate_code").post("/v4/code/suggestions", json=body)
    assert r.status_code == 403
    assert r.json() == {"detail": "Unauthorized to access code suggestions"}
    r = client_with("generate_code", "duo_chat").post("/v4/code/suggestions", json=body)
    assert r.status_code == 200


def test_shared_context_window_keeps_room_for_the_answer(assembler):
    big = "x = 1\n" * 3000
    shared = target("smollm2", max_input_tokens=2048, context_window_includes_output=True)
    gen = assembler.assemble_suggestion(generation(content_above_cursor=big), shared)
    assert gen.request.max_tokens == 256  # the smollm2 generations prompt
    # Messages, their chat-template overhead and the answer fit the 2048-token window.
    assert gen.usage.input_tokens + 256 <= 2048
    # The prefix gets its 93 % of what is left (the suffix's 7 % stays unused: it is empty).
    assert gen.usage.input_tokens > 0.9 * (2048 - 256)
    comp = assembler.assemble_suggestion(completion(content_above_cursor=big), shared)
    assert default_tokenizer().count(comp.request.prefix) == math.ceil(0.93 * (2048 - 48))


def test_prompt_id_wins_over_a_caller_prompt_and_empty_prompts_are_ignored(assembler):
    named = generation(raw_prompt="ignored", prompt_id="code_suggestions/generations")
    out = assembler.assemble_suggestion(named, target("claude"))
    assert out.request.kind == "chat" and out.unit_primitive == "generate_code"
    empty = assembler.assemble_suggestion(completion(raw_prompt=""), target("codestral"))
    assert empty.request.prefix == PREFIX and empty.request.stop[0] == "[INST]"
    raw = assembler.assemble_suggestion(generation(raw_prompt="write a sort"), target("claude"))
    assert raw.request.prefix == "write a sort" and raw.unit_primitive == ""


def test_family_stop_sequences_join_the_prompts(assembler):
    self_hosted = target("mistral", stop=["</new_code>", "[INST]"])
    out = assembler.assemble_suggestion(generation(), self_hosted)
    assert out.request.stop == ["</new_code>", "[INST]"]
