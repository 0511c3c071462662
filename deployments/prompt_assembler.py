"""PromptAssembler: (feature, request, chosen model) -> provider-neutral ModelRequest.

Code suggestions go through the prompt registry (`deployments/prompts`): the prompt id is the
caller's `prompt_id` (generations) or `code_suggestions/completions|generations`, the family the
target model's first family with a folder (else `base`), the version the caller's constraint
(default `^1.0.0`). Prefix, suffix and code context are cut to the model's token budget with
the real tokenizer (API.md §7.3) before the template is rendered.

How a completion reaches the model depends on the target's completion style (the catalogue's
`completion_type`): `fim`: prefix and suffix as such (fill-in-the-middle, or prefix-only where
the model has no FIM); `text`: the rendered `user` template as one text prompt; `chat`: the
rendered messages. Generations always send the rendered messages. Caller-built prompts (v2
prompt_version 2/3, v3 `prompt`) are sent as they are, untruncated, unless a generation also
names a `prompt_id` (the registry prompt wins) or the prompt is empty.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from core.calls import model_request
from core.mock_models import Call, answering
from core.settings import PromptAssemblerSettings
from core.types import (
    AssembledPrompt,
    AssembledSuggestion,
    FinishedSuggestion,
    Identity,
    Message,
    ModelRequest,
    ModelResult,
    ModelTarget,
    PromptCall,
    SuggestionInput,
    TokenUsage,
)
from deployments import registry_prompts
from deployments.prompts import PromptRegistry
from deployments.suggestions.languages import Language, detect_language, file_extension
from deployments.suggestions.post_processing import (
    post_process_completion,
    post_process_generation,
)
from deployments.suggestions.token_counting import load_tokenizer
from deployments.suggestions.truncation import Fitted, TokenCounter, fit

# A chat template wraps each message in a few control tokens (ChatML: `<|im_start|>role\n`,
# `<|im_end|>\n`) and opens the answer with one more header; they count against the budget.
CHAT_OVERHEAD_TOKENS = 5

DEFAULT_PROMPT_IDS = {
    "code_completions": "code_suggestions/completions",
    "code_generations": "code_suggestions/generations",
}


class PromptAssembler:
    """Plain class: the ingress calls it in-process, or Ray serves it as its own deployment.
    It owns both ends of a model call's text: the prompt going in (code suggestions and
    registry prompts) and the post-processing of a suggestion coming out.

    The registry is loaded and validated here, once per replica: a broken prompt file fails
    the replica's start with the file and key in the message.
    """

    def __init__(
        self,
        settings: PromptAssemblerSettings | None = None,
        *,
        registry: PromptRegistry | None = None,
        tokenizer: TokenCounter | None = None,
        definitions_dir: Path | None = None,
    ) -> None:
        self.settings = settings or PromptAssemblerSettings()
        if registry is None:
            registry = PromptRegistry(definitions_dir) if definitions_dir else PromptRegistry()
        self.registry = registry
        self.tokenizer = tokenizer or load_tokenizer()

    async def check(self) -> bool:
        return True

    def directory_structure(self) -> dict[str, Any]:
        """The loaded definitions, for `GET /prompt_directory_structure` (§5.1)."""
        return self.registry.directory_structure()

    def assemble_prompt(self, call: PromptCall, identity: Identity) -> AssembledPrompt:
        """A registry prompt as a model call; 403 when `identity` lacks its unit primitive."""
        return registry_prompts.assemble_prompt(
            self.registry, self.settings.duo_chat, call, identity
        )

    def finish_suggestion(
        self, inp: SuggestionInput, assembled: AssembledSuggestion, result: ModelResult
    ) -> FinishedSuggestion:
        """A non-streamed suggestion's text post-processed (§7.4 completions, §7.5
        generations), and the token usage its response reports."""
        request = assembled.request
        max_used = bool(request.max_tokens and result.output_tokens >= request.max_tokens)
        if inp.feature == "code_generations":
            text = post_process_generation(
                result.text, inp.content_above_cursor, provider=inp.model_provider or ""
            )
        else:
            text = post_process_completion(
                result.text,
                inp.content_above_cursor,
                request.target.engine,
                self.settings.excluded_post_processors,
                suffix=inp.content_below_cursor,
                lang=assembled.lang,
                max_output_tokens_used=max_used,
                score=result.score,
                score_threshold=self.settings.score_thresholds.get(request.target.identifier),
                extension=assembled.extension,
            )
        before = assembled.usage
        usage = TokenUsage(  # built, not model_copy'd: a third of the cost (hot path)
            input_tokens=result.input_tokens or before.input_tokens,
            output_tokens=result.output_tokens,
            max_output_tokens_used=max_used,
            context_tokens_sent=before.context_tokens_sent,
            context_tokens_used=before.context_tokens_used,
        )
        return FinishedSuggestion(text=text, usage=usage)

    def assemble_suggestion(self, inp: SuggestionInput, target: ModelTarget) -> AssembledSuggestion:
        extension = file_extension(inp.file_name)  # once: three steps below need it
        language = detect_language(inp.file_name, inp.language_identifier, extension)
        usage = TokenUsage()
        unit_primitive = ""
        generation = inp.feature == "code_generations"
        # A generation that names a registry prompt uses it even if a prompt came along.
        registry_prompt = generation and bool(inp.prompt_id)
        if inp.raw_messages and not registry_prompt:
            model = answering(target, _call_of("chat", generation))
            request = model_request(
                model, kind="chat", messages=inp.raw_messages, stream=inp.stream
            )
        elif inp.raw_prompt and not registry_prompt:
            model = answering(target, _call_of("completion", generation))
            request = model_request(model, prefix=inp.raw_prompt, stream=inp.stream)
        else:
            request, usage, unit_primitive = self._from_registry(inp, target, language, extension)
        if not usage.input_tokens:
            usage = usage.model_copy(update={"input_tokens": self._count_request(request)})
        if not inp.prompt_cache or inp.session_affinity:
            request = request.model_copy(
                update={"prompt_cache": inp.prompt_cache, "session_affinity": inp.session_affinity}
            )
        return AssembledSuggestion(
            request=request,
            lang=language.lang if language else "",
            language_name=language.name if language else "",
            extension=extension,
            usage=usage,
            unit_primitive=unit_primitive,
        )

    # -- registry-based prompts ----------------------------------------------------------
    def _from_registry(
        self,
        inp: SuggestionInput,
        target: ModelTarget,
        language: Language | None,
        extension: str,
    ) -> tuple[ModelRequest, TokenUsage, str]:
        generation = inp.feature == "code_generations"
        prompt_id = (inp.prompt_id if generation else None) or DEFAULT_PROMPT_IDS[inp.feature]
        prompt = self.registry.get(prompt_id, inp.prompt_version, target.family)
        kind = "chat" if generation else target.completion.type
        variables = self._variables(inp, language, extension)
        # The prompt's sampling over the model's (resolved here: the input budget needs
        # max_tokens); the model family's stop sequences follow the prompt's (§6.4).
        sampling = prompt.sampling(target).over(target.sampling)
        model = answering(target, _call_of(kind, generation))
        call = partial(
            model_request,
            model,
            sampling=sampling,
            stop=prompt.stop,
            timeout_s=prompt.params.timeout,  # the prompt file's deadline (§5.2)
            stream=inp.stream,
        )
        template_tokens = 0
        if kind != "fim":
            empty = prompt.render({**variables, "prefix": "", "suffix": ""})
            template_tokens = self._count_messages(kind, empty)
        fitted = fit(
            self.tokenizer,
            prefix=inp.content_above_cursor,
            suffix=inp.content_below_cursor,
            max_input_tokens=_input_limit(target, sampling.max_tokens),
            template_tokens=template_tokens,
            context=[] if generation else [c.content for c in inp.context],
            context_max_percent=target.completion.context_max_percent,
        )
        if kind == "fim":
            request = call(prefix=fitted.prefix, suffix=fitted.suffix)
            input_tokens = fitted.suffix_part.tokens + (
                self.tokenizer.count(fitted.prefix)  # context joined in: count it as sent
                if fitted.context_used.text
                else fitted.prefix_part.tokens
            )
        else:
            messages = prompt.render(
                {**variables, "prefix": fitted.prefix, "suffix": fitted.suffix}
            )
            input_tokens = self._count_messages(kind, messages)
            if kind == "text":
                request = call(prefix=_text_prompt(messages))
            else:
                request = call(kind="chat", messages=messages)
        return request, _usage(fitted, input_tokens), prompt.unit_primitive

    @staticmethod
    def _variables(
        inp: SuggestionInput, language: Language | None, extension: str
    ) -> dict[str, Any]:
        variables: dict[str, Any] = {"user_instruction": "", **inp.prompt_enhancer}
        variables.update(
            {
                "language": language.name if language else "",
                "lang": language.fence_tag if language else extension,
                "file_name": inp.file_name.strip(),
                "extension": extension,
            }
        )
        return variables

    def _count_messages(self, kind: str, messages: list[Message]) -> int:
        if kind == "text":
            return self.tokenizer.count(_text_prompt(messages))
        content = sum(self.tokenizer.count(m.content) for m in messages)
        return content + CHAT_OVERHEAD_TOKENS * (len(messages) + 1)

    def _count_request(self, request: ModelRequest) -> int:
        if request.kind == "chat":
            return sum(self.tokenizer.count(m.content) for m in request.messages)
        return self.tokenizer.count(request.prefix) + self.tokenizer.count(request.suffix)


def _call_of(kind: str, generation: bool) -> Call:
    """The model class a suggestion calls: a chat model for a chat call and for every code
    generation, whatever its prompt's shape (the mock models answer as that class, §4.1)."""
    return "chat" if generation or kind == "chat" else "text"


def _input_limit(target: ModelTarget, max_tokens: int | None) -> int:
    """The input token limit. A model whose context window also holds its answer (the embedded
    llama.cpp model: `context_window_includes_output` in models.yml) keeps room for
    `max_tokens` of output, so a full prompt is cut rather than refused."""
    limit = target.max_input_tokens
    if target.context_window_includes_output and max_tokens:
        limit -= min(max_tokens, limit // 2)
    return max(0, limit)


def _text_prompt(messages: list[Message]) -> str:
    """A text-completion prompt is the last `user` message (the template's FIM/raw string)."""
    users = [m.content for m in messages if m.role == "user"]
    return users[-1] if users else "".join(m.content for m in messages)


def _usage(fitted: Fitted, input_tokens: int) -> TokenUsage:
    return TokenUsage(
        input_tokens=input_tokens,
        context_tokens_sent=fitted.context_sent.tokens,
        context_tokens_used=fitted.context_used.tokens,
    )
