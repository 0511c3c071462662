"""The completion post-processors that need a syntax tree (API.md §7.4), as upstream's
`ai_gateway/code_suggestions/processing/post/ops.py` defines them, on tree-sitter trees.

Each takes `(text, ctx)` like the other steps and returns `text` unchanged when the language is
unknown or has no grammar, or when the code cannot be parsed. Positions are UTF-8 byte offsets
(tree-sitter's own), so text with non-ASCII characters is cut where the tree says, not a few
characters off as with upstream's character columns. Prefix and suffix are parsed only in a
window around the cursor (`syntax.Window`).

What is not parsed (issue 18; the same output, `tests/unit/test_syntax_shortcuts.py`): a
completion whose first character can open no comment in its grammar is not parsed to see whether
it is only comments (`comment_starts.py`), and a text two steps try (`fix_end_block_errors`'s
cut and `fix_truncation`'s) is parsed once per completion (`CompletionContext.trees`).

One deliberate difference: upstream's `fix_end_block_errors` takes the suffix's "first line"
from an index computed on the stripped suffix but applied to the unstripped one, so a suffix
that starts with a newline and has more lines makes the first line `"\\n"` (every newline of
the completion becomes a cut point), and one with a single line keeps its leading newline. Here
the first line is the suffix's first non-blank line; when it is below the cursor's line it is
looked for as a whole line, indentation included (`"\\n}"`), so a completion that closes its
own inner block (`"  }"`) and then repeats the function's `"}"` loses only the repeat.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from deployments.suggestions import syntax
from deployments.suggestions.comment_starts import may_open_comment

if TYPE_CHECKING:
    from tree_sitter import Tree

    from deployments.suggestions.post_processing import CompletionContext

log = structlog.stdlib.get_logger("codesuggestions")

# A model that repeats the suffix's first line many times is not worth a parse per repeat.
MAX_CUTS = 16
# Completions are a few lines (max_tokens 48-64 upstream); a far longer one (a mis-set limit, the
# echo mock answering with the whole prompt) would make every parse cost milliseconds more, so
# it is left as it is.
MAX_COMPLETION_CHARS = 8_000


def _grammar(ctx: CompletionContext, text: str = "") -> str | None:
    if len(text) > MAX_COMPLETION_CHARS:
        return None
    return syntax.grammar_for(ctx.lang, ctx.extension)


def _with_text(
    ctx: CompletionContext, parsed: syntax.Sample, middle: str, *, suffix: bool = True
) -> Tree:
    """`parsed.with_text`, parsed once per completion: `fix_end_block_errors` and
    `fix_truncation` can both try the completion less its closing line."""
    data = middle.encode("utf-8")
    tree = ctx.trees.get((data, suffix))
    if tree is None:
        tree = ctx.trees[data, suffix] = parsed.with_text(data, suffix=suffix)
    return tree


def remove_comment_only_completion(text: str, ctx: CompletionContext) -> str:
    """A completion that is nothing but comments becomes `""`."""
    grammar = _grammar(ctx, text)
    if grammar is None or not text or not may_open_comment(text, grammar):
        return text
    if syntax.comments_only(syntax.parse(grammar, text)):
        log.info("removing comments-only completion")
        return ""
    return text


def trim_by_min_allowed_context(text: str, ctx: CompletionContext) -> str:
    """Cut the completion at the end of the smallest block (a node over two lines or more)
    that holds its first non-whitespace character, parsed after the prefix.

    Always parsed: no cheap test tells that a completion stays whole. One line is enough to
    be cut when it ends a construct begun above the cursor (`int x = a +` then `b * c;`
    becomes `b * c`; `[1,` then `2]; f(xs);` becomes `2]`), or when it ends in whitespace.
    Nor is the tree of the text with the prefix parsed afresh instead of from the sample:
    tree-sitter's incremental and fresh parses may differ where there are errors."""
    grammar = _grammar(ctx, text)
    offset = len(text) - len(text.lstrip())
    if grammar is None or offset == len(text):
        return text
    parsed = syntax.sample(grammar, ctx.prefix, ctx.suffix)
    start = len(parsed.window.prefix)
    body = text.encode("utf-8")
    target = start + len(text[:offset].encode("utf-8"))
    end = syntax.smallest_block_end(_with_text(ctx, parsed, text, suffix=False), target)
    if end is None or end >= start + len(body):
        return text
    return _decoded(body[: end - start], text)


def _suffix_first_line(suffix: str) -> str:
    stripped = suffix.strip()
    return stripped.split("\n", 1)[0].rstrip()


def _suffix_first_line_needle(suffix: str) -> str:
    """The suffix's first non-blank line as it would appear in the completion: after a
    newline, with its indentation, unless it is on the cursor's own line."""
    head = suffix.lstrip()
    if not head:
        return ""
    line = head.split("\n", 1)[0].rstrip()
    skipped = suffix[: len(suffix) - len(head)]
    if "\n" not in skipped:
        return line
    indent = skipped.rsplit("\n", 1)[1]
    return "\n" + indent + line


def fix_end_block_errors(text: str, ctx: CompletionContext) -> str:
    """A completion that repeats the suffix's first line (a closing brace the editor already
    has) is cut before an occurrence of it, the last occurrence first, when the cut leaves no
    more parse errors before the cursor than the file had without the completion."""
    grammar = _grammar(ctx, text)
    first_line = _suffix_first_line_needle(ctx.suffix)
    if grammar is None or not first_line or first_line not in text:
        return text
    parsed = syntax.sample(grammar, ctx.prefix, ctx.suffix)
    start = len(parsed.window.prefix)
    errors_before = len(syntax.error_starts(parsed.tree))
    best = text
    least = errors_before
    lookup = text
    for _ in range(MAX_CUTS):
        pos = lookup.rfind(first_line)
        if pos == -1:
            break
        lookup = lookup[:pos].rstrip()
        starts = syntax.error_starts(_with_text(ctx, parsed, lookup))
        errors_after = sum(1 for at in starts if at < start)
        if errors_after <= least:
            least = errors_after
            best = lookup
    return best


def fix_end_block_errors_legacy(text: str, ctx: CompletionContext) -> str:
    """The older variant: cut the suffix's first line off the completion's end only when the
    file then parses without any error."""
    grammar = _grammar(ctx, text)
    first_line = _suffix_first_line(ctx.suffix)
    lookup = text.rstrip()
    if grammar is None or not first_line or not lookup.endswith(first_line):
        return text
    cut = lookup[: -len(first_line)]
    tree = _with_text(ctx, syntax.sample(grammar, ctx.prefix, ctx.suffix), cut)
    return cut if not tree.root_node.has_error else text


def _decoded(data: bytes, fallback: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # a cut inside a character: the tree was not about this text
        return fallback


def fix_truncation(text: str, ctx: CompletionContext) -> str:
    """Fireworks: a completion cut off by the token limit is trimmed back to its last space
    (or its last line dropped), unless that would leave no code or the file would then parse
    with more errors than with the cut-off text (a whole `max(a, b)` that happened to use
    every token stays whole rather than becoming `max(a,`). Only when the completion used
    exactly the limit, no earlier step changed it and it does not end in whitespace."""
    if not (text and ctx.max_output_tokens_used and text == ctx.raw and text == text.rstrip()):
        return text
    grammar = _grammar(ctx, text)
    if grammar is None:
        return text
    last_line = text.splitlines()[-1]
    space = last_line.rfind(" ")
    trimmed = text.removesuffix(last_line[space:] if space != -1 else last_line).rstrip()
    if not trimmed.strip():
        return text
    parsed = syntax.sample(grammar, ctx.prefix, ctx.suffix)
    errors_before = len(syntax.error_starts(_with_text(ctx, parsed, text)))
    errors_after = len(syntax.error_starts(_with_text(ctx, parsed, trimmed)))
    return trimmed if errors_after <= errors_before else text
