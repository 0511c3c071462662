"""Self-hosted model families (API.md §6.1, §6.4): what each name implies for a model call.

A family picks the prompt family folder, the stop tokens, the input token limit and the
default output budget. Data, not code paths: an unknown name falls back to `general`.
"""

from __future__ import annotations

from dataclasses import dataclass

MISTRAL_STOP = ("</new_code>",)
CODESTRAL_STOP = ("\n\n", "\n+++++", "[PREFIX]", "</s>[SUFFIX]", "[MIDDLE]")
CODEGEMMA_STOP = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>")
QWEN_STOP = (
    "<|fim_prefix|>",
    "<|fim_suffix|>",
    "<|fim_middle|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
    "<|im_start|>",
    "<|im_end|>",
    "\n\n",
)


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    prompt_families: tuple[str, ...]  # tried in order, then `base`
    completion_stop: tuple[str, ...] = ()
    generation_stop: tuple[str, ...] = ()
    max_input_tokens: int = 32_768
    completion_max_tokens: int = 128
    generation_max_tokens: int = 2048
    can_generate: bool = True  # listed among the models allowed for code generations

    def stop_for(self, feature: str) -> tuple[str, ...]:
        """The family's own stops for a code feature; none for chat and prompts (a completion
        stop such as Codestral's blank line would cut a chat answer short)."""
        if feature == "code_generations":
            return self.generation_stop
        return self.completion_stop if feature == "code_completions" else ()


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("mistral", ("mistral",), generation_stop=MISTRAL_STOP),
        Family("mixtral", ("mixtral", "mistral"), generation_stop=MISTRAL_STOP),
        Family(
            "codestral",
            ("codestral", "mistral"),
            completion_stop=CODESTRAL_STOP,
            generation_stop=MISTRAL_STOP,
        ),
        Family("codestral-2501", ("codestral", "mistral"), completion_stop=CODESTRAL_STOP),
        Family("codestral-2508", ("codestral", "mistral"), completion_stop=CODESTRAL_STOP),
        Family("codegemma", ("codegemma",), completion_stop=CODEGEMMA_STOP, max_input_tokens=8_192),
        Family("codellama", ("codellama",), max_input_tokens=16_384),
        Family("deepseekcoder", ("deepseekcoder",)),
        Family("llama3", ("llama3",)),
        Family("gpt", ("gpt",)),
        Family("gemini", ("gemini",)),
        Family("claude_3", ("claude_3",), max_input_tokens=200_000),
        Family("qwen", ("qwen",), completion_stop=QWEN_STOP, can_generate=False),
        Family("qwen2p5-coder-7b", ("qwen",), completion_stop=QWEN_STOP),
        Family("general", ("general",), max_input_tokens=200_000, can_generate=False),
    )
}


def family_of(name: str | None) -> Family:
    return FAMILIES.get((name or "").strip().lower(), FAMILIES["general"])
