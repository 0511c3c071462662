"""PromptAssembler: (feature, request, chosen model) -> provider-neutral ModelRequest."""

from __future__ import annotations

from typing import Any

from deployments.suggestions.languages import detect_language, file_extension
from deployments.types import (
    AssembledSuggestion,
    Message,
    ModelRequest,
    ModelTarget,
    SuggestionInput,
    TokenUsage,
)

GENERATION_INSTRUCTION = (
    "You are a coding assistant. Continue the {language} file `{file_name}` at the cursor: "
    "write the code the comment or context asks for. Answer with code only."
)


class PromptAssembler:
    """Plain class: the ingress calls it in-process, or Ray serves it as its own deployment."""

    def __init__(self, excluded_post_processors: tuple[str, ...] = ()) -> None:
        self.excluded_post_processors = excluded_post_processors

    async def check(self) -> bool:
        return True

    def assemble_suggestion(self, inp: SuggestionInput, target: ModelTarget) -> AssembledSuggestion:
        language = detect_language(inp.file_name, inp.language_identifier)
        lang = language.lang if language else ""
        language_name = language.name if language else ""
        base: dict[str, Any] = {
            "target": target,
            "stream": inp.stream,
            "max_tokens": target.params.get("max_tokens"),
            "temperature": target.params.get("temperature"),
        }
        if inp.raw_messages is not None:
            request = ModelRequest(kind="chat", messages=inp.raw_messages, **base)
        elif inp.raw_prompt is not None:
            request = ModelRequest(kind="completion", prefix=inp.raw_prompt, **base)
        elif inp.feature == "code_generations":
            request = ModelRequest(
                kind="chat", messages=self._generation_messages(inp, language_name), **base
            )
        else:
            request = ModelRequest(
                kind="completion",
                prefix=self._with_context(inp),
                suffix=inp.content_below_cursor,
                **base,
            )
        context_chars = sum(len(c.content) for c in inp.context)
        return AssembledSuggestion(
            request=request,
            lang=lang,
            language_name=language_name,
            extension=file_extension(inp.file_name),
            usage=TokenUsage(
                input_tokens=_estimate_tokens(request),
                context_tokens_sent=context_chars // 4,
                context_tokens_used=context_chars // 4,
            ),
        )

    @staticmethod
    def _with_context(inp: SuggestionInput) -> str:
        if not inp.context:
            return inp.content_above_cursor
        joined = "\n".join(item.content for item in inp.context)
        return f"{joined}\n{inp.content_above_cursor}"

    @staticmethod
    def _generation_messages(inp: SuggestionInput, language_name: str) -> list[Message]:
        language = language_name or file_extension(inp.file_name) or "source"
        fence = language_name.lower() or file_extension(inp.file_name)
        system = GENERATION_INSTRUCTION.format(language=language, file_name=inp.file_name)
        user = f"```{fence}\n{inp.content_above_cursor}\n```"
        if inp.content_below_cursor:
            user += f"\nCode after the cursor:\n```{fence}\n{inp.content_below_cursor}\n```"
        return [Message(role="system", content=system), Message(role="user", content=user)]


def _estimate_tokens(request: ModelRequest) -> int:
    """About four characters a token until the tokenizer-backed counter replaces it."""
    chars = (
        len(request.prefix) + len(request.suffix) + sum(len(m.content) for m in request.messages)
    )
    return (chars + 3) // 4
