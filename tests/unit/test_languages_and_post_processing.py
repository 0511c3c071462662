"""The §7.2 language table and the §7.4/§7.5 post-processors."""

from __future__ import annotations

import pytest

from deployments.suggestions.languages import LANGUAGES, detect_language
from deployments.suggestions.post_processing import (
    CompletionContext,
    FenceStripper,
    completion_steps,
    fix_truncation,
    post_process_completion,
    post_process_generation,
)

# The contract's LanguageId names, in enum order (API.md §7.2): what `model.lang` may say.
CONTRACT_LANGS = [
    "c",
    "cpp",
    "csharp",
    "go",
    "java",
    "js",
    "php",
    "python",
    "ruby",
    "rust",
    "scala",
    "ts",
    "kotlin",
    "ada",
    "apex",
    "arduino",
    "asm",
    "awk",
    "bash",
    "batch",
    "bicep",
    "c3",
    "cairo",
    "clojure",
    "cobol",
    "commonlisp",
    "crystal",
    "cuda",
    "d",
    "dart",
    "devicetree",
    "dockerfile",
    "elisp",
    "elixir",
    "elm",
    "erlang",
    "fennel",
    "fish",
    "fortran",
    "fsharp",
    "gdscript",
    "gleam",
    "glsl",
    "groovy",
    "hack",
    "hare",
    "haskell",
    "haxe",
    "hcl",
    "hlsl",
    "idris",
    "jai",
    "janet",
    "jq",
    "julia",
    "lua",
    "luau",
    "magik",
    "matlab",
    "mojo",
    "move",
    "nim",
    "nix",
    "objc",
    "ocaml",
    "odin",
    "pascal",
    "perl",
    "pony",
    "powershell",
    "prolog",
    "purescript",
    "ql",
    "r",
    "racket",
    "rescript",
    "robot",
    "roc",
    "scheme",
    "smalltalk",
    "solidity",
    "sourcepawn",
    "sql",
    "starlark",
    "svelte",
    "swift",
    "systemverilog",
    "tact",
    "tcl",
    "terraform",
    "tlaplus",
    "v",
    "vb",
    "verilog",
    "vhdl",
    "vim",
    "vue",
    "wgsl",
    "zig",
    "zsh",
]


def test_table_covers_every_contract_language_once() -> None:
    assert [language.lang for language in LANGUAGES] == CONTRACT_LANGS


@pytest.mark.parametrize(
    ("file_name", "editor", "lang"),
    [
        ("a.h", None, "c"),
        ("a.hh", None, "cpp"),
        ("a.C", None, "cpp"),
        ("a.c", None, "c"),
        ("a.h++", None, "cpp"),
        ("a.phpt", None, "php"),
        ("a.kts", None, "kotlin"),
        ("deploy.sh", None, "bash"),
        ("a.zsh", None, "zsh"),
        ("a.ps1", None, "powershell"),
        ("main.tf", None, "terraform"),
        ("x.tfvars", None, "terraform"),
        ("a.m", None, "objc"),
        ("a.R", None, "r"),
        ("a.r", None, "r"),
        ("a.lhs", None, "haskell"),
        ("a.pod", None, "perl"),
        ("a.ex", None, "elixir"),
        ("a.jl", None, "julia"),
        ("a.f90", None, "fortran"),
        ("a.cbl", None, "cobol"),
        ("a.v", None, "verilog"),
        ("a.sv", None, "systemverilog"),
        ("a.vhd", None, "vhdl"),
        ("a.dockerfile", None, "dockerfile"),
        ("Dockerfile", None, "dockerfile"),
        ("a.svelte", None, "svelte"),
        ("BUILD.bzl", None, "starlark"),
        ("a.cu", None, "cuda"),
        ("a.S", None, "asm"),
        ("APP.PY", None, "python"),  # unknown as-is, known lower-cased
        ("noext", "typescriptreact", "ts"),
        ("noext", "shellscript", "bash"),
        ("noext", "objective-cpp", "objc"),
        ("noext", "csharp", "csharp"),
        ("x.unknownext", "emacs-lisp", "elisp"),
        ("a.py", "ruby", "python"),  # the extension wins over the editor
        ("config.yaml", None, ""),  # known to prompts, not in the contract's table
        ("noext", "notalanguage", None),
        ("", None, None),
    ],
)
def test_language_detection(file_name: str, editor: str | None, lang: str | None) -> None:
    found = detect_language(file_name, editor)
    assert (found.lang if found else None) == lang


def test_yaml_has_a_name_for_prompts() -> None:
    found = detect_language("ci.yml")
    assert found is not None and (found.lang, found.name, found.fence_tag) == ("", "YAML", "yaml")


# -- completion pipeline --------------------------------------------------------------------
def test_pipeline_order_and_exclusion_by_name() -> None:
    names = [step.name for step in completion_steps("vertex-ai")]
    assert names == [
        "remove_comment_only_completion",
        "clean_irrelevant_keywords",
        "strip_new_code_tags",
        "trim_by_min_allowed_context",
        "fix_end_block_errors",
        "clean_model_reflection",
        "strip_whitespaces",
        "strip_asterisks",
    ]
    excluded = ["clean_model_reflection", "strip_asterisks"]
    assert "clean_model_reflection" not in [s.name for s in completion_steps("", excluded)]
    prefix = "import os\n"
    assert post_process_completion("x\nimport os\ny", prefix) == "x\ny"
    kept = post_process_completion("x\nimport os\ny", prefix, excluded=["clean_model_reflection"])
    assert kept == "x\nimport os\ny"
    assert post_process_completion("***** x", "", "vertex-ai") == ""
    assert post_process_completion("***** x", "", "vertex-ai", excluded=excluded) == "***** x"


def test_empty_result_short_circuits() -> None:
    assert post_process_completion("<|cursor|>", "x") == ""
    assert post_process_completion("  \n\t", "x") == ""
    assert post_process_completion("<new_code>return 1</new_code>", "def f():\n    ") == "return 1"


def test_reflection_keeps_single_comment_and_prose_blocks() -> None:
    prefix = "# compute totals\nimport os\n"
    assert post_process_completion("x\n# compute totals\ny", prefix) == "x\n# compute totals\ny"
    prose = "\n".join(["the quick brown fox jumps over"] * 6)
    text = "x\n" + prose
    assert post_process_completion(text, prose + "\n") == text


def test_fix_truncation_for_fireworks() -> None:
    raw = "foo(a, b)\nbar = baz(qu"
    ctx = CompletionContext(prefix="", raw=raw, max_output_tokens_used=True, lang="python")
    assert fix_truncation(raw, ctx) == "foo(a, b)\nbar ="
    one_line = CompletionContext(prefix="", raw="abc", max_output_tokens_used=True, lang="python")
    assert fix_truncation("abc", one_line) == "abc"  # would remove everything
    not_full = CompletionContext(prefix="", raw="foo bar", max_output_tokens_used=False)
    assert fix_truncation("foo bar", not_full) == "foo bar"
    # It needs a parser, like the other syntax steps: an unknown language is left as it is.
    unknown = CompletionContext(prefix="", raw=raw, max_output_tokens_used=True)
    assert fix_truncation(raw, unknown) == raw
    assert (
        post_process_completion(raw, "", "fireworks_ai", max_output_tokens_used=True, lang="python")
        == "foo(a, b)\nbar ="
    )


# -- generations -----------------------------------------------------------------------------
def test_generation_pipeline() -> None:
    prefix = "def read(path):\n    # read lines"
    text = "```python\n    with open(path) as f:\n        return f.readlines()\n```"
    assert post_process_generation(text, prefix) == (
        "\n    with open(path) as f:\n        return f.readlines()\n"
    )
    assert post_process_generation("<new_code>\nx = 1\n</new_code>", "a\n") == "x = 1"
    assert post_process_generation("```\n\n```", "x") == ""
    # Anthropic output only loses whitespace-only answers.
    assert post_process_generation("```py\nx\n```", "a", "anthropic") == "```py\nx\n```"
    assert post_process_generation(" \n", "a", "anthropic") == ""


def test_generation_reflection_removed() -> None:
    prefix = "import os\nimport sys\n\n# list files\n"
    # The repeated first line goes; the next line keeps the newline that starts it.
    assert post_process_generation("import os\nprint(os.listdir())\n", prefix) == (
        "\nprint(os.listdir())\n"
    )


def test_streamed_fences_are_stripped_line_by_line() -> None:
    stripper = FenceStripper()
    pieces = []
    for chunk in ["Here:\n``", "`go\nfunc a() {", "}\n", "```", "\n", "tail"]:
        pieces.append(list(stripper.feed(chunk)))
    pieces.append(list(stripper.finish()))
    # Lines are released as soon as they are complete, never before.
    assert pieces == [["Here:\n"], [], ["func a() {}\n"], [], [], [], ["tail"]]


def test_generation_keeps_fence_lines_inside_the_code() -> None:
    # Only the fence that opens the answer and the closing backticks go (§7.5): a docstring
    # that shows Markdown keeps its own fences.
    text = (
        '```python\ndef usage():\n    """Run it:\n\n    ```sh\n    make run\n    ```\n    """\n```'
    )
    assert post_process_generation(text, "# usage text\n") == (
        'def usage():\n    """Run it:\n\n    ```sh\n    make run\n    ```\n    """\n'
    )
    # A Markdown file being written: its fenced example stays whole.
    md = "Install:\n\n```\npip install aigw\n```\n"
    assert post_process_generation(md, "# Title\n") == md
