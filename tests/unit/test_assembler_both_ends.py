"""The PromptAssembler owns both ends of a call's text: registry prompts rendered into model
calls (with the caller's unit primitive checked) and suggestions post-processed, so placing it
in its own deployment moves that work out of the ingress."""

from __future__ import annotations

import pickle

import pytest

from core.errors import AuthorizationError, PromptAccessDenied, UnprocessableError
from core.settings import Config, PromptAssemblerSettings
from core.types import (
    AssembledSuggestion,
    Identity,
    ModelRequest,
    ModelResult,
    ModelTarget,
    PromptCall,
    SuggestionInput,
    TokenUsage,
)
from deployments.prompt_assembler import PromptAssembler
from deployments.prompts import prompt_directory_structure

CLAUDE = ModelTarget(backend="anthropic", engine="anthropic", name="claude", family=("claude",))
VERTEX = ModelTarget(backend="vertex", engine="vertex-ai", name="codestral-2508")
EVERYONE = Identity(bypass=True)
REACT_INPUTS = {"question": "why?", "agent_scratchpad": [], "unavailable_resources": []}


@pytest.fixture(scope="module")
def assembler() -> PromptAssembler:
    return PromptAssembler(PromptAssemblerSettings(duo_chat={"max_tokens": 77}))


def call(prompt_id: str, **extra: object) -> PromptCall:
    fields: dict[str, object] = {"prompt_id": prompt_id, "target": CLAUDE, "families": ("claude",)}
    return PromptCall.model_validate({**fields, **extra})


def test_settings_slice_comes_from_the_feature_flags_and_duo_chat_settings() -> None:
    config = Config(
        feature_flags={"excl_post_process": ["strip_whitespaces"]},
        duo_chat={"max_tokens": 5, "model_request_timeout": 9},
    )
    sliced = config.prompt_assembler()
    assert sliced.excluded_post_processors == ["strip_whitespaces"]
    assert (sliced.duo_chat.max_tokens, sliced.duo_chat.model_request_timeout) == (5, 9)


def test_a_registry_prompt_is_rendered_into_a_chat_call(assembler: PromptAssembler) -> None:
    inputs = {"diff": "--- a/x\n+++ b/x\n+print(1)\n"}
    out = assembler.assemble_prompt(
        call("generate_commit_message", inputs=inputs, stream=True, correlation_id="c-1"),
        EVERYONE,
    )
    assert out.unit_primitive == "generate_commit_message"
    request = out.request
    assert (request.kind, request.stream, request.correlation_id) == ("chat", True, "c-1")
    assert request.messages[0].role == "system"
    assert "+print(1)" in request.messages[-1].content
    assert request.timeouts.total_s == 60  # the prompt file's own timeout


def test_duo_chat_settings_apply_to_chat_prompts_only(assembler: PromptAssembler) -> None:
    chat = assembler.assemble_prompt(
        call("chat/explain_code", inputs={"selected_text": "x = 1"}), EVERYONE
    )
    assert chat.request.max_tokens == 77
    assert chat.request.timeouts.total_s == 30.0  # AIGW_DUO_CHAT__MODEL_REQUEST_TIMEOUT
    other = assembler.assemble_prompt(
        call("generate_commit_message", inputs={"diff": "+x"}), EVERYONE
    )
    assert other.request.max_tokens != 77


def test_a_caller_without_the_unit_primitive_gets_403_naming_it(
    assembler: PromptAssembler,
) -> None:
    nobody = Identity(issuer="gitlab", scopes=("duo_chat",))
    with pytest.raises(PromptAccessDenied) as denied:
        assembler.assemble_prompt(call("generate_commit_message"), nobody)
    assert denied.value.status_code == 403
    assert denied.value.message == "Unauthorized to access 'generate_commit_message'"
    assert denied.value.unit_primitive == "generate_commit_message"
    # It crosses a DeploymentHandle (the assembler may run in its own replica) intact.
    copy = pickle.loads(pickle.dumps(denied.value))
    assert isinstance(copy, AuthorizationError)
    assert (copy.message, copy.unit_primitive) == (denied.value.message, "generate_commit_message")


def test_the_agent_prompt_is_refused_outside_its_own_endpoint(
    assembler: PromptAssembler,
) -> None:
    with pytest.raises(UnprocessableError, match="Prompt 'chat/react' is not supported"):
        assembler.assemble_prompt(call("chat/react"), EVERYONE)
    own = assembler.assemble_prompt(
        call("chat/react", endpoint_of_its_own=True, inputs=REACT_INPUTS), EVERYONE
    )
    assert own.unit_primitive == "duo_chat"


def test_a_bad_version_constraint_is_422(assembler: PromptAssembler) -> None:
    with pytest.raises(UnprocessableError, match="Invalid version constraint"):
        assembler.assemble_prompt(call("generate_commit_message", version="^^1"), EVERYONE)


def test_directory_structure_is_the_loaded_registry(assembler: PromptAssembler) -> None:
    assert assembler.directory_structure() == prompt_directory_structure()


def assembled(target: ModelTarget, max_tokens: int | None = None) -> AssembledSuggestion:
    request = ModelRequest(target=target, prefix="def f():\n    ", max_tokens=max_tokens)
    return AssembledSuggestion(request=request, lang="python", usage=TokenUsage(input_tokens=9))


def suggestion(feature: str, **extra: object) -> SuggestionInput:
    fields: dict[str, object] = {
        "feature": feature,
        "file_name": "a.py",
        "content_above_cursor": "def f():\n    ",
    }
    return SuggestionInput.model_validate({**fields, **extra})


def test_a_completion_is_post_processed_with_the_configured_exclusions() -> None:
    text = "****** return 1"  # Vertex Codestral's asterisks (§7.4 strip_asterisks)
    result = ModelResult(text=text, output_tokens=4)
    default = PromptAssembler().finish_suggestion(
        suggestion("code_completions"), assembled(VERTEX, max_tokens=4), result
    )
    assert default.text == ""
    assert default.usage.model_dump() == {
        "input_tokens": 9,
        "output_tokens": 4,
        "max_output_tokens_used": True,
        "context_tokens_sent": 0,
        "context_tokens_used": 0,
    }
    excluded = PromptAssembler(
        PromptAssemblerSettings(excluded_post_processors=["strip_asterisks"])
    ).finish_suggestion(suggestion("code_completions"), assembled(VERTEX), result)
    assert excluded.text == text
    assert excluded.usage.max_output_tokens_used is False


def test_a_generation_loses_its_fences_and_starts_on_a_new_line(
    assembler: PromptAssembler,
) -> None:
    result = ModelResult(text="```python\nreturn 1\n```", input_tokens=12)
    finished = assembler.finish_suggestion(
        suggestion("code_generations", content_above_cursor="# add one"),
        assembled(CLAUDE),
        result,
    )
    assert finished.text == "\nreturn 1\n"
    assert finished.usage.input_tokens == 12  # the model's own count wins over ours
