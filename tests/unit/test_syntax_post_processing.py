"""The tree-sitter completion post-processors (API.md §7.4), on real code in six languages.

Each case is an editor situation: the code above the cursor, the model's completion, the code
below, and what the user must be shown. A step either changes the completion (the case the
step exists for) or must leave it alone.
"""

from __future__ import annotations

import pytest

from deployments.suggestions.post_processing import (
    CompletionContext,
    completion_steps,
    post_process_completion,
)
from deployments.suggestions.syntax_steps import (
    fix_end_block_errors,
    fix_end_block_errors_legacy,
    fix_truncation,
    remove_comment_only_completion,
    trim_by_min_allowed_context,
)


def ctx(lang: str, prefix: str = "", suffix: str = "", extension: str = "") -> CompletionContext:
    return CompletionContext(prefix, suffix, lang, extension=extension)


# -- remove_comment_only_completion ------------------------------------------------------------
COMMENT_ONLY = [
    ("python", "def mean(xs):\n    ", "# TODO: handle an empty list\n"),
    ("js", "function add(a, b) {\n  ", "// add the two numbers\n"),
    ("ts", "export function add(a: number, b: number): number {\n  ", "/* sum */\n"),
    ("go", "package main\n\n", "// Add returns the sum of a and b.\n"),
    ("java", "class A {\n  ", "/**\n   * Adds two numbers.\n   */\n"),
    ("ruby", "class Cart\n  ", "# Returns the total price\n"),
    ("c", "#include <stdio.h>\n\n", "/* entry point */\n// prints hello\n"),
]
CODE_WITH_COMMENTS = [
    ("python", "def mean(xs):\n    ", "# average\n    return sum(xs) / len(xs)\n"),
    ("js", "function add(a, b) {\n  ", "return a + b; // sum\n"),
    ("ts", "export function add(a: number, b: number): number {\n  ", "return a + b; /* sum */"),
    ("go", "func add(a, b int) int {\n\t", "// sum\n\treturn a + b\n"),
    ("java", "class A {\n  ", "// getter\n  int size() { return n; }\n"),
    ("ruby", "class Cart\n  ", "# total\n  def total = items.sum(&:price)\n"),
    ("c", "int main(void) {\n  ", '/* greet */ printf("hi\\n");\n'),
]


@pytest.mark.parametrize(("lang", "prefix", "completion"), COMMENT_ONLY)
def test_a_comment_only_completion_is_dropped(lang: str, prefix: str, completion: str) -> None:
    assert remove_comment_only_completion(completion, ctx(lang, prefix)) == ""
    # Through the whole pipeline the user gets nothing rather than a lone comment.
    assert post_process_completion(completion, prefix, "vertex-ai", lang=lang) == ""


@pytest.mark.parametrize(("lang", "prefix", "completion"), CODE_WITH_COMMENTS)
def test_code_with_comments_is_kept(lang: str, prefix: str, completion: str) -> None:
    assert remove_comment_only_completion(completion, ctx(lang, prefix)) == completion


def test_a_comment_in_an_unknown_language_is_kept() -> None:
    # No grammar (YAML reports lang ""; an unknown extension has no language): step skipped.
    assert remove_comment_only_completion("# a comment\n", ctx("")) == "# a comment\n"
    assert post_process_completion("# a comment\n", "", lang="") == "# a comment\n"


# -- trim_by_min_allowed_context ---------------------------------------------------------------
# The model finished the function the cursor is in, then went on writing the next one.
TRIMMED = [
    (
        "python",
        "def add(a, b):\n    ",
        "return a + b\n\ndef sub(a, b):\n    return a - b\n",
        "return a + b",
    ),
    (
        "js",
        "function add(a, b) {\n  ",
        "return a + b;\n}\n\nfunction sub(a, b) {\n  return a - b;\n}\n",
        "return a + b;\n}",
    ),
    (
        "ts",
        "function add(a: number, b: number): number {\n  ",
        "return a + b;\n}\n\nexport const sub = (a: number, b: number) => a - b;\n",
        "return a + b;\n}",
    ),
    (
        "go",
        "func load() error {\n\terr := read()\n\t",
        "if err != nil {\n\t\treturn err\n\t}\n\treturn nil\n}\n\nfunc other() {}\n",
        "if err != nil {\n\t\treturn err\n\t}",
    ),
    (
        "java",
        "class A {\n  int add(int a, int b) {\n    ",
        "return a + b;\n  }\n\n  int sub(int a, int b) {\n    return a - b;\n  }\n}\n",
        "return a + b;\n  }",
    ),
    (
        "ruby",
        "def total(items)\n  ",
        "items.sum(&:price)\nend\n\ndef count(items)\n  items.size\nend\n",
        "items.sum(&:price)\nend",
    ),
    (
        "c",
        "int add(int a, int b) {\n  ",
        "return a + b;\n}\n\nint sub(int a, int b) {\n  return a - b;\n}\n",
        "return a + b;\n}",
    ),
]
# The completion is one block, or ends the statement on the cursor's line: nothing to trim.
UNTRIMMED = [
    ("python", "def add(a, b):\n    return ", "a + b"),
    ("js", "const total = items.reduce(", "(sum, x) => sum + x, 0);"),
    ("ts", "function f(): string {\n  return ", "name.trim();"),
    ("go", "func add(a, b int) int {\n\treturn ", "a + b"),
    ("java", "class A {\n  int n() {\n    return ", "items.size();"),
    ("ruby", "def total(items)\n  items.", "sum(&:price)"),
    ("c", "int add(int a, int b) {\n  return ", "a + b;"),
]


@pytest.mark.parametrize(("lang", "prefix", "completion", "expected"), TRIMMED)
def test_a_completion_past_its_block_is_trimmed(
    lang: str, prefix: str, completion: str, expected: str
) -> None:
    assert trim_by_min_allowed_context(completion, ctx(lang, prefix)) == expected


@pytest.mark.parametrize(("lang", "prefix", "completion"), UNTRIMMED)
def test_a_completion_within_its_block_is_kept(lang: str, prefix: str, completion: str) -> None:
    assert trim_by_min_allowed_context(completion, ctx(lang, prefix)) == completion


def test_trimming_counts_bytes_not_characters() -> None:
    # Non-ASCII text before the cut: tree-sitter's offsets are bytes.
    prefix = 'def greet():\n    name = "José Müller"\n    '
    completion = 'print(f"¡Hola, {name}!")\n\ndef bye():\n    print("adiós")\n'
    got = trim_by_min_allowed_context(completion, ctx("python", prefix))
    assert got == 'print(f"¡Hola, {name}!")'


# -- fix_end_block_errors ----------------------------------------------------------------------
# The editor already has the closing line below the cursor and the model wrote it again.
REPEATED_END = [
    ("python", "def f(x):\n  if x:\n    ", "\n  return x\n", "x += 1\n  return x", "x += 1"),
    ("js", "function add(a, b) {\n  ", "\n}\n", "return a + b;\n}", "return a + b;"),
    ("ts", "class A {\n  get n(): number {\n    ", "\n  }\n}\n", "return 1;\n  }", "return 1;"),
    ("go", "func add(a, b int) int {\n\t", "\n}\n", "return a + b\n}", "return a + b"),
    (
        "java",
        "class A {\n  int add(int a, int b) {\n    ",
        "\n  }\n}\n",
        "return a + b;\n  }",
        "return a + b;",
    ),
    ("ruby", "def total(items)\n  ", "\nend\n", "items.sum(&:price)\nend", "items.sum(&:price)"),
    (
        "c",
        "void f(int x) {\n  ",
        "\n}\n",
        "if (x) {\n    g();\n  }\n}",
        "if (x) {\n    g();\n  }",  # the inner block's own brace stays
    ),
]
KEPT_END = [
    # The completion does not repeat the line below the cursor.
    ("python", "def f(x):\n    ", "\n\ndef g():\n    pass\n", "return x * 2"),
    ("js", "function add(a, b) {\n  ", "\n}\n", "return a + b;"),
    # The suffix's closing line appears only at another indentation (an inner block).
    ("ts", "function f(x: number) {\n  ", "\n}\n", "if (x) {\n    g();\n  }"),
    ("go", "func f(x int) {\n\t", "\n}\n", "if x > 0 {\n\t\tg()\n\t}"),
    ("java", "class A {\n  void f() {\n    ", "\n  }\n}\n", "for (;;) {\n      g();\n    }"),
    ("ruby", "def f(x)\n  ", "\nend\n", "if x\n    g\n  end"),
    ("c", "void f(int x) {\n  ", "\n}\n", "while (x--) {\n    g();\n  }"),
]


@pytest.mark.parametrize(("lang", "prefix", "suffix", "completion", "expected"), REPEATED_END)
def test_a_repeated_closing_line_is_cut(
    lang: str, prefix: str, suffix: str, completion: str, expected: str
) -> None:
    assert fix_end_block_errors(completion, ctx(lang, prefix, suffix)) == expected


@pytest.mark.parametrize(("lang", "prefix", "suffix", "completion"), KEPT_END)
def test_a_completion_that_closes_only_its_own_blocks_is_kept(
    lang: str, prefix: str, suffix: str, completion: str
) -> None:
    assert fix_end_block_errors(completion, ctx(lang, prefix, suffix)) == completion


def test_the_legacy_variant_cuts_only_to_a_file_without_errors() -> None:
    prefix, suffix = "function add(a, b) {\n  ", "\n}\n"
    assert fix_end_block_errors_legacy("return a + b;\n}", ctx("js", prefix, suffix)) == (
        "return a + b;\n"
    )
    # An error elsewhere in the file (the `(` never closed) keeps the legacy step out.
    broken = "function add(a, b {\n  "
    assert fix_end_block_errors_legacy("return a + b;\n}", ctx("js", broken, suffix)) == (
        "return a + b;\n}"
    )


def test_tsx_files_parse_with_the_tsx_grammar() -> None:
    # Cursor inside JSX: the smallest block is the <div> element, which only the TSX grammar
    # sees (the plain TypeScript one cuts inside the closing tag).
    prefix = "export function App() {\n  const [n] = useState(0);\n  return (\n    <div>\n      "
    completion = "<span>{n}</span>\n    </div>\n  );\n}\n\nexport function B() {}\n"
    got = trim_by_min_allowed_context(completion, ctx("ts", prefix, extension="tsx"))
    assert got == "<span>{n}</span>\n    </div>"


# -- the pipeline --------------------------------------------------------------------------------
def test_each_syntax_step_can_be_switched_off_by_name() -> None:
    prefix, suffix = "function add(a, b) {\n  ", "\n}\n"
    text = "return a + b;\n}\n\nfunction sub(a, b) {\n  return a - b;\n}\n"
    both = ["trim_by_min_allowed_context", "fix_end_block_errors"]
    run = lambda excluded: post_process_completion(  # noqa: E731
        text, prefix, "vertex-ai", excluded, suffix=suffix, lang="js"
    )
    assert run([]) == "return a + b;"
    # Alone, the end-block fix cuts before each repeat of the suffix's "}" (the earliest cut
    # that leaves no new error wins).
    assert run(["trim_by_min_allowed_context"]) == "return a + b;"
    assert run(["fix_end_block_errors"]) == "return a + b;\n}"
    assert run(both) == text
    comment = post_process_completion("// sum\n", prefix, "vertex-ai", lang="js")
    assert comment == ""
    kept = post_process_completion(
        "// sum\n", prefix, "vertex-ai", ["remove_comment_only_completion"], lang="js"
    )
    assert kept.rstrip() == "// sum"


def test_the_legacy_variant_replaces_the_default_where_an_override_names_it() -> None:
    override = {"fix_end_block_errors": "fix_end_block_errors_legacy"}
    names = [s.name for s in completion_steps("", (), override)]
    assert "fix_end_block_errors_legacy" in names and "fix_end_block_errors" not in names
    assert "fix_end_block_errors_legacy" not in [
        s.name for s in completion_steps("", ["fix_end_block_errors_legacy"], override)
    ]


# -- fix_truncation (Fireworks) -------------------------------------------------------------
# The answer used every token it was allowed and stopped mid-word: it is cut back to the last
# space, since the cut adds no parse error (both are an unfinished statement).
TRUNCATED = [
    ("python", "def f(a, b):\n    ", "total = add(a, b)\n    result = transform(tot", "\n"),
    ("js", "function f(a, b) {\n  ", "const t = add(a, b);\n  const r = transform(t", "\n}\n"),
    ("ts", "function f(a: number, b: number) {\n  ", "const r = transform(a, b", "\n}\n"),
    ("go", "func f(a, b int) int {\n\t", "total := add(a, b)\n\tresult := transform(tot", "\n}\n"),
    ("java", "class A {\n  int f(int a) {\n    ", "int r = transform(a, b", "\n  }\n}\n"),
    ("ruby", "def f(a, b)\n  ", "total = add(a, b)\n  result = transform(tot", "\nend\n"),
    ("c", "int f(int a, int b) {\n  ", "int t = add(a, b);\n  int r = transform(t", "\n}\n"),
]
# The answer happened to end exactly at the limit but is whole: cutting it at its last space
# would leave broken code (`max(a,`), so it stays.
WHOLE_AT_THE_LIMIT = [
    ("python", "def f(a, b):\n    return ", "max(a, b)", "\n"),
    ("js", "function f(a, b) {\n  return ", "Math.max(a, b);", "\n}\n"),
    ("ts", "function f(a: number, b: number): number {\n  return ", "Math.max(a, b);", "\n}\n"),
    ("go", "func f(a, b int) int {\n\treturn ", "max(a, b)", "\n}\n"),
    ("java", "class A {\n  int f(int a, int b) {\n    return ", "Math.max(a, b);", "\n  }\n}\n"),
    ("ruby", "def f(a, b)\n  ", "[a, b].max", "\nend\n"),
    ("c", "int f(int a, int b) {\n  return ", "a > b ? a : b;", "\n}\n"),
]


def at_the_limit(lang: str, prefix: str, raw: str, suffix: str) -> CompletionContext:
    return CompletionContext(prefix, suffix, lang, raw=raw, max_output_tokens_used=True)


@pytest.mark.parametrize(("lang", "prefix", "completion", "suffix"), TRUNCATED)
def test_a_truncated_completion_is_cut_back_to_its_last_space(
    lang: str, prefix: str, completion: str, suffix: str
) -> None:
    expected = completion[: completion.rfind(" ")].rstrip()
    assert fix_truncation(completion, at_the_limit(lang, prefix, completion, suffix)) == expected


@pytest.mark.parametrize(("lang", "prefix", "completion", "suffix"), WHOLE_AT_THE_LIMIT)
def test_a_whole_completion_at_the_limit_is_not_cut_into_a_parse_error(
    lang: str, prefix: str, completion: str, suffix: str
) -> None:
    ctx = at_the_limit(lang, prefix, completion, suffix)
    assert fix_truncation(completion, ctx) == completion
    kept = post_process_completion(
        completion, prefix, "fireworks_ai", suffix=suffix, lang=lang, max_output_tokens_used=True
    )
    assert kept == completion


ODD_INPUTS = [b"x\n", b"def f(:\n  {", b'}\n)\n"unterminated', b"    // TODO\n", b"", b"end\n}}])"]


def test_every_mapped_grammar_loads_and_parses_odd_input_promptly() -> None:
    # A grammar that loops on some input would hang a replica (the pack's COBOL grammar never
    # returns on "x\n", so COBOL is left out): each mapped one parses odd input, in a child
    # process so that a hang fails this test instead of stalling the run.
    import subprocess
    import sys

    code = (
        "from deployments.suggestions import syntax\n"
        f"inputs = {ODD_INPUTS!r}\n"
        "for g in sorted(set(syntax.GRAMMARS.values()) | {'tsx'}):\n"
        "    for s in inputs:\n"
        "        syntax.parse(g, s)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], timeout=120, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def test_a_completion_far_longer_than_any_model_writes_is_not_parsed() -> None:
    from deployments.suggestions.syntax_steps import MAX_COMPLETION_CHARS

    huge = "// note\n" * (MAX_COMPLETION_CHARS // 8 + 1)
    assert remove_comment_only_completion(huge, ctx("js")) == huge
    assert remove_comment_only_completion(huge[: MAX_COMPLETION_CHARS - 8], ctx("js")) == ""
