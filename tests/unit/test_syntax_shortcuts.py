"""The shortcuts that spare the completion post-processors work (issue 18), and proof that they
change no output: each is taken where it should be, and every step's result over the syntax
step cases is the same with and without it.
"""

from __future__ import annotations

import random
import re
import string
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from deployments.suggestions import comment_starts, post_processing, reflection, syntax
from deployments.suggestions.post_processing import (
    ALTERNATIVE_STEPS,
    CompletionContext,
    NamedStep,
    post_process_completion,
)
from deployments.suggestions.syntax_steps import fix_truncation, remove_comment_only_completion
from tests.unit import test_syntax_post_processing as cases

ECHO = (
    'echo: {"prefix": "def greet(name):\\n    ", "suffix": "\\n\\nprint(greet(\'x\'))\\n", '
    '"stream": false, "kwargs": {"temperature": "0.2", "max_output_tokens": "64"}}'
)  # the mock's answer to `tests/payloads.py` `v2_body()`
# Comments of every family the table knows, and the odd first characters it must not trust.
COMMENTS = ["# x", "// x", "/* x */", "-- x", "; x", "<!-- x -->", "=begin\nx\n=end", "{- x -}"]
COMMENTS += ["(* x *)", "% x", "#| x |#", "<# x #>", "{ x }", "/// x", "#= x =#", '"""doc"""']
ODD_STARTS = ["\u00a0", "\ufeff", "\\\n", "\f", ", ", "| ", "+ "]


def all_cases() -> Iterator[tuple[str, str, str, str]]:
    """(lang, prefix, suffix, completion) of every syntax step test case."""
    for lang, prefix, completion in cases.COMMENT_ONLY + cases.CODE_WITH_COMMENTS + cases.UNTRIMMED:
        yield lang, prefix, "", completion
    for lang, prefix, completion, _ in cases.TRIMMED:
        yield lang, prefix, "", completion
    for lang, prefix, suffix, completion, _ in cases.REPEATED_END:
        yield lang, prefix, suffix, completion
    for lang, prefix, suffix, completion in cases.KEPT_END:
        yield lang, prefix, suffix, completion
    for lang, prefix, completion, suffix in cases.TRUNCATED + cases.WHOLE_AT_THE_LIMIT:
        yield lang, prefix, suffix, completion
    yield "python", "def greet(name):\n    ", "\n\nprint(greet('x'))\n", ECHO


def variants(completion: str) -> list[str]:
    """The completion, led by comments and by characters a grammar may skip, and comments
    alone: where the comment check must still parse."""
    out = [completion, "\n  " + completion, *(s + completion for s in ODD_STARTS)]
    for comment in COMMENTS:
        out += [comment, comment + "\n" + completion, "  " + comment + "\n" + comment + "\n"]
    return out


def outputs(lang: str, prefix: str, suffix: str, text: str) -> list[str]:
    """Every step alone, and the pipelines of the providers with extra steps."""
    steps = [*post_processing.COMPLETION_STEPS, *ALTERNATIVE_STEPS.values()]
    steps.append(NamedStep("fix_truncation", fix_truncation))
    ctx = CompletionContext(prefix, suffix, lang, text, True)
    got = [step.run(text, ctx) for step in steps]
    for engine in ("vertex-ai", "fireworks_ai"):
        got.append(
            post_process_completion(
                text, prefix, engine, suffix=suffix, lang=lang, max_output_tokens_used=True
            )
        )
    return got


def test_outputs_are_the_same_with_and_without_the_shortcuts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole = list(all_cases())
    led = [(lang, p, text) for lang, p, _, completion in whole for text in variants(completion)]

    def run() -> tuple[list[list[str]], list[str]]:
        every_step = [outputs(*args) for args in whole]
        comments = [remove_comment_only_completion(t, cases.ctx(lang, p)) for lang, p, t in led]
        return every_step, comments

    fast = run()
    # Without the comment table every completion is parsed; trees are not shared between the
    # steps; `<new_code>` tags are looked for by the regex alone.
    monkeypatch.setattr(comment_starts, "COMMENT_STARTS", {})
    monkeypatch.setattr(CompletionContext, "__init__", _without_shared_trees())
    monkeypatch.setattr(
        post_processing,
        "COMPLETION_STEPS",
        tuple(
            NamedStep(s.name, lambda t, c: post_processing._NEW_CODE_TAGS.sub("", t))
            if s.name == "strip_new_code_tags"
            else s
            for s in post_processing.COMPLETION_STEPS
        ),
    )
    slow = run()
    assert fast == slow
    assert "" in fast[1] and len(set(fast[1])) > 100  # comments dropped, code kept


def _without_shared_trees() -> Callable[..., None]:
    class Forgetful(dict):  # type: ignore[type-arg]
        def get(self, key: object, default: object = None) -> object:
            return default

    init = CompletionContext.__init__

    def patched(self: CompletionContext, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)  # type: ignore[arg-type]
        object.__setattr__(self, "trees", Forgetful())

    return patched


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    counted: Counter[str] = Counter()
    parse = syntax.parse

    def counting(grammar: str, code: str | bytes) -> object:
        counted[grammar] += 1
        return parse(grammar, code)

    monkeypatch.setattr(syntax, "parse", counting)
    return counted


def test_code_is_not_parsed_to_see_whether_it_is_only_comments(parses: Counter[str]) -> None:
    led_by_code = [(lang, prefix, text) for lang, prefix, _, text in all_cases()]
    led_by_code = [(lang, p, t) for lang, p, t in led_by_code if t.lstrip()[0] not in "#/="]
    assert len(led_by_code) > 30
    for lang, prefix, text in led_by_code:
        assert remove_comment_only_completion(text, cases.ctx(lang, prefix)) == text
    assert parses.total() == 0
    # A comment-led completion, or one in a grammar the table leaves out, is parsed.
    for lang, prefix, text in cases.COMMENT_ONLY:
        assert remove_comment_only_completion(text, cases.ctx(lang, prefix)) == ""
    remove_comment_only_completion("x = 1\n", cases.ctx("perl"))
    remove_comment_only_completion("\u00a0# x\n", cases.ctx("python"))
    assert parses.total() == len(cases.COMMENT_ONLY) + 2


# Each comment family's opener less its first character, and each opener after one character:
# what a first character outside a grammar's set would need to become a comment. The whole
# table against far more texts: `scripts/check_comment_starts.py` (minutes).
_OPENERS = ["//", "/*", "#", "--", "{-", "(*", "<!--", "=begin", "#|", ";", "%", "<#", "{", '"']
_CLOSE = {"/*": " */", "{-": " -}", "(*": " *)", "<!--": " -->", "#|": " |#", "<#": " #>"}
_CLOSE |= {"=begin": "\nx\n=end", "{": " }", '"': '"'}
TAILS = sorted(
    {o[1:] + " x" + _CLOSE.get(o, "") + "\n" for o in _OPENERS}
    | {" " + o + " x" + _CLOSE.get(o, "") + "\n" for o in _OPENERS}
)


CONTRACT_GRAMMARS = ["python", "javascript", "typescript", "go", "java", "ruby", "c"]


@pytest.mark.parametrize("grammar", CONTRACT_GRAMMARS)
def test_no_other_first_character_parses_as_only_comments(grammar: str) -> None:
    allowed = comment_starts.COMMENT_STARTS[grammar] | {"\\"}
    # Every punctuation character; letters and digits lex alike, so a few stand for them all.
    others = [c for c in string.punctuation + "aZ_0" if c not in allowed]
    fooled = [
        c + tail
        for c in others
        for tail in TAILS
        if syntax.comments_only(syntax.parse(grammar, c + tail))
    ]
    assert fooled == []
    for c in others:
        assert not comment_starts.may_open_comment("\n  " + c + "x", grammar)


def test_the_table_was_checked_against_the_grammars_installed() -> None:
    from importlib.metadata import version

    # A new pack may change a grammar's comments: rerun scripts/check_comment_starts.py, then
    # move this pin.
    assert version("tree-sitter-language-pack") == "0.13.0"


def test_new_code_tags_need_no_regex_without_them(monkeypatch: pytest.MonkeyPatch) -> None:
    class Spy:
        def __init__(self, pattern: re.Pattern[str]) -> None:
            self.pattern, self.calls = pattern, 0

        def sub(self, repl: str, text: str) -> str:
            self.calls += 1
            return self.pattern.sub(repl, text)

    spy = Spy(post_processing._NEW_CODE_TAGS)
    monkeypatch.setattr(post_processing, "_NEW_CODE_TAGS", spy)
    strip = post_processing.strip_new_code_tags
    assert strip(ECHO, CompletionContext("")) == ECHO
    assert spy.calls == 0
    assert strip("<new_code>\nx = 1\n</new_code>\n", CompletionContext("")) == "x = 1"
    assert spy.calls == 1


def test_a_cut_two_steps_try_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # At the token limit, `fix_end_block_errors` tries the completion less the `}` the editor
    # has (and keeps it: the string never closed is an error before the cursor then), and
    # `fix_truncation` tries the same cut.
    parsed: list[tuple[bytes, bool]] = []
    with_text = syntax.Sample.with_text

    def counting(self: syntax.Sample, middle: bytes, *, suffix: bool = True) -> object:
        parsed.append((middle, suffix))
        return with_text(self, middle, suffix=suffix)

    monkeypatch.setattr(syntax.Sample, "with_text", counting)
    prefix, suffix = "class A {\n  int add(int a, int b) {\n    ", "\n  }\n}\n"
    text = 'log("sum: + (a + b);\n  }'
    got = post_process_completion(
        text, prefix, "fireworks_ai", suffix=suffix, lang="java", max_output_tokens_used=True
    )
    assert got == 'log("sum: + (a + b);'
    # trim (without the suffix), the cut both steps try, the whole text: each parsed once.
    assert parsed == [(text.encode(), False), (got.encode(), True), (text.encode(), True)]


def _old_repeated_runs(source: list[str], target: list[str]) -> list[tuple[int, int]]:
    """The table before issue 18: a row per source line."""
    best = [0] * len(target)
    previous = [0] * (len(target) + 1)
    for src in source:
        current = [0] * (len(target) + 1)
        if src:
            for j, tgt in enumerate(target, start=1):
                if tgt == src:
                    current[j] = previous[j - 1] + 1
                    best[j - 1] = max(best[j - 1], current[j])
        previous = current
    runs: list[tuple[int, int]] = []
    for j, length in enumerate(best):
        if length and runs and length > 1 and runs[-1][1] == j - 1:
            runs[-1] = (runs[-1][0], j)
        elif length:
            runs.append((j, j))
    return runs


def _old_reflection(completion: str, prefix: str) -> str:
    text = prefix + completion
    if text[: len(prefix)].rstrip(" \t").endswith("\n"):
        cut = len(prefix)
    else:
        found = text.find("\n", len(prefix))
        if found == -1:
            return completion
        cut = found + 1
    before = reflection.split_code_lines(text[:cut])
    after = reflection.split_code_lines(text[cut:])
    runs = _old_repeated_runs([x.strip() for x in before], [x.strip() for x in after])
    kept: list[str] = []
    position = 0
    for start, end in runs:
        kept.extend(after[position:start])
        if reflection._keep_run(after[start : end + 1]):
            kept.extend(after[start : end + 1])
        position = end + 1
    kept.extend(after[position:])
    return text[len(prefix) : cut] + "".join(kept)


def test_model_reflection_is_unchanged_by_its_faster_table() -> None:
    rng = random.Random(18)
    lines = ["x = 1", "}", "", "  ", "return a", "# c", "def f():", "  return x", "\t}", "pass"]
    lines += ["foo()", "the the the the", "a b", "\r", "\x0b", "\u2028"]
    ends = ["\n", "\r\n", "\r", "\n\n", " ", "\t", "\x0c", ""]

    def text(n: int) -> str:
        return "".join(rng.choice(lines) + rng.choice(ends) for _ in range(n))

    for _ in range(3000):
        prefix = text(rng.randint(0, 12)) + rng.choice(["", " ", "\t", "\n", "\n  "])
        completion = text(rng.randint(0, 8))
        expected = _old_reflection(completion, prefix)
        assert reflection.clean_model_reflection(completion, prefix) == expected


def test_parse_windows_are_unchanged_by_stopping_at_an_unindented_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(18)
    shapes = ["def f():", "    x = 1", "", "}", "  y", "\tz", "class A:", ")"]
    texts = ["\n".join(rng.choice(shapes) for _ in range(rng.randint(1, 400))) for _ in range(60)]
    fast = [(syntax.prefix_window(t, 300), syntax.suffix_window(t, 300)) for t in texts]

    def exhaustive(text: str, starts: list[int]) -> int | None:
        best: tuple[int, int] | None = None
        for start in starts:
            indent = syntax._indent(text, start)
            if indent is not None and (best is None or indent < best[0]):
                best = (indent, start)
        return best[1] if best else None

    monkeypatch.setattr(syntax, "_least_indented", exhaustive)
    assert fast == [(syntax.prefix_window(t, 300), syntax.suffix_window(t, 300)) for t in texts]
