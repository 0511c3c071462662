"""Where a comments-only completion can begin, per grammar: the cheap check that spares
`remove_comment_only_completion` a parse of nearly every completion.

A completion is comments-only (`syntax.comments_only`) when it parses without error into
top-level nodes that are all comments. The first of them holds the first character after the
leading whitespace, so that character must open a comment, or be one the grammar skips before
one (Clojure's `,`, R's `;`). `COMMENT_STARTS` lists those characters for each grammar it
knows: the openers of the grammar's comment node kinds (its node kinds named `*comment*`),
joined with every printable ASCII character that, followed by any of a few hundred comment
texts, ever parsed as comments only (`tests/unit/test_syntax_shortcuts.py` repeats that check).
A completion whose first such character is anything else is left as it is without a parse.

Parsed as before: a grammar without an entry (Perl's grammar is too slow to check, SQL has a
`COMMENT ON` statement node, Odin's takes `+ /* x */` for a comment alone, Vim's `| " x`), a first
character that is not printable ASCII (a grammar may take a no-break space or a byte-order mark
for whitespace) or is a backslash (a line continuation some grammars skip), and a completion
that is all whitespace.
"""

from __future__ import annotations

_BLANK = " \t\r\n\f\v"

# (characters, grammars): each grammar's comment openers' first characters, and any character
# it skips before a comment.
_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # `//` and `/*` only.
    (
        "/",
        ("apex", "arduino", "c", "cairo", "cpp", "csharp", "cuda", "d", "dart", "gleam", "glsl"),
    ),
    ("/", ("go", "groovy", "hack", "hare", "haxe", "hlsl", "java", "kotlin", "objc", "pony")),
    ("/", ("rust", "solidity", "swift", "v", "verilog", "wgsl", "zig")),
    # `#` only.
    ("#", ("bash", "dockerfile", "elixir", "fish", "gdscript", "janet", "julia", "nim")),
    ("#", ("python", "starlark", "tcl")),
    # HTML comments `<!--` and `-->` are comments in JavaScript (ECMAScript Annex B).
    ("-/<", ("javascript", "typescript", "tsx")),
    ("-", ("ada", "lua", "luau")),
    ("-{", ("elm", "haskell", "purescript")),  # `--`, `{-`
    (";", ("elisp", "fennel")),
    ("#;", ("commonlisp", "racket", "scheme", "r")),  # `;`, `#|`, `#;`; R skips `;`
    ("#/", ("bicep", "hcl", "nix", "scala", "terraform")),
    ("<", ("svelte", "vue")),  # `<!--`
    ("#/;", ("asm",)),
    ("#,;", ("clojure",)),  # `,` is whitespace
    ("%", ("erlang",)),
    ("(/;", ("fsharp",)),
    ("(", ("ocaml",)),  # `(*`
    ("(/{", ("pascal",)),  # `(*`, `//`, `{`
    ("#/<?", ("php",)),  # comments come after `<?php`
    ("#<", ("powershell",)),  # `#`, `<#`
    ("#$", ("magik",)),  # `$` (a chunk's end) may stand alone before a comment
    ("#=", ("ruby",)),  # `#`, `=begin`
    ("-/", ("vhdl",)),
)
COMMENT_STARTS: dict[str, frozenset[str]] = {
    grammar: frozenset(chars) for chars, grammars in _GROUPS for grammar in grammars
}


def may_open_comment(text: str, grammar: str) -> bool:
    """False only where `text` cannot be comments-only in `grammar`: its first non-blank
    character is printable ASCII, no backslash, and opens no comment there."""
    starts = COMMENT_STARTS.get(grammar)
    if starts is None:
        return True
    body = text.lstrip(_BLANK)
    if not body:
        return True
    first = body[0]
    return first in starts or first == "\\" or not "!" <= first <= "~"
