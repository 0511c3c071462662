"""Post-processing of model output for code suggestions (API.md §7.4, §7.5).

Completions run an ordered pipeline of named steps; any step can be switched off by name with
`AIGW_FEATURE_FLAGS__EXCL_POST_PROCESS`, and an empty result ends the pipeline with `""`.
Steps that need a syntax tree (`remove_comment_only_completion`, `trim_by_min_allowed_context`,
`fix_end_block_errors`, Fireworks' `fix_truncation`: `syntax_steps.py`) parse with tree-sitter
and leave the text alone when the language is unknown or has no grammar.
`fix_end_block_errors_legacy` replaces `fix_end_block_errors` where an override names it
(`STEP_OVERRIDES`, as upstream's `overrides`); excluding either name skips it. Providers
append their extras (Vertex Codestral: `strip_asterisks`; Fireworks: `filter_score`,
`fix_truncation`). Streams are not post-processed (§7.1).

Generations (non-streaming): a leading fence line and trailing backticks stripped, a leading
newline when the code above the cursor does not end in one, model reflection removed,
whitespace-only dropped; Anthropic output gets only the whitespace check. Streams:
line-buffered fence stripping (`FenceStripper`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from deployments.suggestions import syntax_steps
from deployments.suggestions.reflection import clean_model_reflection as _reflection
from deployments.suggestions.score import filter_score
from deployments.suggestions.syntax_steps import fix_truncation

if TYPE_CHECKING:
    from tree_sitter import Tree

# A fence line that opens the text (blank lines before it go with it); later fence lines are
# the code's own (a docstring's example, a Markdown file) and stay.
_LEADING_FENCE = re.compile(r"\A\s*`{3}[^\s`]*[ \t]*\n")
_ASTERISKS = re.compile(r"^\s*\*{5,}")
_IRRELEVANT_KEYWORDS = ("<|cursor|>",)
_NEW_CODE_TAGS = re.compile(r"^\s*<new_code>\n?|\n?</new_code>\s*$")


@dataclass(frozen=True, slots=True)
class CompletionContext:
    """What a completion step may look at besides the text."""

    prefix: str
    suffix: str = ""
    lang: str = ""
    raw: str = ""  # the model's text before any step ran
    max_output_tokens_used: bool = False
    score: float | None = None  # Fireworks: the first token's logprob
    score_threshold: float | None = None
    extension: str = ""  # the file's, without its dot: picks a grammar variant (`.tsx`)
    # The trees the syntax steps parsed for this completion, by (text, whether the suffix
    # follows it): two steps that try the same cut parse it once.
    trees: dict[tuple[bytes, bool], Tree] = field(default_factory=dict, compare=False, repr=False)


Step = Callable[[str, CompletionContext], str]


def clean_irrelevant_keywords(text: str, ctx: CompletionContext) -> str:
    for keyword in _IRRELEVANT_KEYWORDS:
        text = text.replace(keyword, "")
    return text


def strip_new_code_tags(text: str, ctx: CompletionContext) -> str:
    """`<new_code>` wrappers a chat model wrote itself (prompts that ask for them)."""
    # Both tags end in `new_code>`: without it the regex, tried at every position, finds nothing.
    return _NEW_CODE_TAGS.sub("", text) if "new_code>" in text else text


def clean_model_reflection(text: str, ctx: CompletionContext | str) -> str:
    prefix = ctx if isinstance(ctx, str) else ctx.prefix
    return _reflection(text, prefix)


def strip_whitespaces(text: str, ctx: CompletionContext | str = "") -> str:
    return "" if not text.strip() else text


def strip_asterisks(text: str, ctx: CompletionContext) -> str:
    return "" if _ASTERISKS.match(text) else text


@dataclass(frozen=True, slots=True)
class NamedStep:
    name: str
    run: Step


COMPLETION_STEPS: tuple[NamedStep, ...] = (
    NamedStep("remove_comment_only_completion", syntax_steps.remove_comment_only_completion),
    NamedStep("clean_irrelevant_keywords", clean_irrelevant_keywords),
    NamedStep("strip_new_code_tags", strip_new_code_tags),
    NamedStep("trim_by_min_allowed_context", syntax_steps.trim_by_min_allowed_context),
    NamedStep("fix_end_block_errors", syntax_steps.fix_end_block_errors),
    NamedStep("clean_model_reflection", clean_model_reflection),
    NamedStep("strip_whitespaces", strip_whitespaces),
)
# Steps that only run in place of another one, when an override names them.
ALTERNATIVE_STEPS: dict[str, NamedStep] = {
    "fix_end_block_errors_legacy": NamedStep(
        "fix_end_block_errors_legacy", syntax_steps.fix_end_block_errors_legacy
    ),
}
# Per engine: step name -> the step that runs in its place (upstream's `overrides`; none of
# upstream's LATEST engines uses one, so the table is empty until an engine needs it).
STEP_OVERRIDES: dict[str, dict[str, str]] = {}
PROVIDER_EXTRA_STEPS: dict[str, tuple[NamedStep, ...]] = {
    "vertex-ai": (NamedStep("strip_asterisks", strip_asterisks),),
    "fireworks_ai": (
        NamedStep("filter_score", filter_score),
        NamedStep("fix_truncation", fix_truncation),
    ),
}


# "Other providers (Anthropic, self-hosted) get no post-processor" (API.md §7.4): their text
# is only dropped when it is whitespace.
UNPROCESSED_ENGINES = frozenset({"anthropic", "litellm"})


def completion_steps(
    engine: str = "",
    excluded: Iterable[str] = (),
    overrides: Mapping[str, str] | None = None,
) -> list[NamedStep]:
    """The steps that will run, in order, for this engine, exclusion list and overrides
    (by default the engine's own, `STEP_OVERRIDES`)."""
    skip = set(excluded)
    replace = STEP_OVERRIDES.get(engine, {}) if overrides is None else overrides
    steps = (*COMPLETION_STEPS, *PROVIDER_EXTRA_STEPS.get(engine, ()))
    if engine in UNPROCESSED_ENGINES:
        steps = tuple(s for s in steps if s.name == "strip_whitespaces")
    chosen = []
    for step in steps:
        if step.name in skip:
            continue
        if step.name in replace:
            step = ALTERNATIVE_STEPS[replace[step.name]]
            if step.name in skip:
                continue
        chosen.append(step)
    return chosen


def post_process_completion(
    text: str,
    prefix: str,
    engine: str = "",
    excluded: Iterable[str] = (),
    *,
    suffix: str = "",
    lang: str = "",
    max_output_tokens_used: bool = False,
    score: float | None = None,
    score_threshold: float | None = None,
    extension: str = "",
    overrides: Mapping[str, str] | None = None,
) -> str:
    ctx = CompletionContext(
        prefix, suffix, lang, text, max_output_tokens_used, score, score_threshold, extension
    )
    for step in completion_steps(engine, excluded, overrides):
        text = step.run(text, ctx)
        if not text:
            return ""
    return text


def strip_code_fence(text: str) -> str:
    """A leading markdown fence line (```` ```lang ````) and the trailing backticks (§7.5)."""
    return _LEADING_FENCE.sub("", text, count=1).rstrip("`")


def prepend_new_line(text: str, prefix: str) -> str:
    if text and prefix and not prefix.endswith("\n") and not text.startswith("\n"):
        return "\n" + text
    return text


def post_process_generation(text: str, prefix: str, provider: str = "") -> str:
    """API.md §7.5. Keyed on the provider the request named, not on the model that served it:
    a generation on the default model (Claude) still loses its fences and gets its newline."""
    if provider == "anthropic":
        return strip_whitespaces(text)
    text = _NEW_CODE_TAGS.sub("", text)
    text = strip_code_fence(text)
    text = prepend_new_line(text, prefix)
    text = _reflection(text, prefix)
    return strip_whitespaces(text)


class FenceStripper:
    """Line-buffered fence stripping for streamed generations (API.md §7.5): whole lines are
    released as they complete, and lines that are markdown fences are dropped."""

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, chunk: str) -> Iterator[str]:
        self._buffer += chunk
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            if not _is_fence(line):
                yield line + "\n"

    def finish(self) -> Iterator[str]:
        line, self._buffer = self._buffer, ""
        if line and not _is_fence(line):
            yield line


def _is_fence(line: str) -> bool:
    return line.strip().startswith("```")
