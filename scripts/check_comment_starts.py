"""Check `COMMENT_STARTS` (deployments/suggestions/comment_starts.py) against the grammars.

For every grammar of the table (or those named), every printable ASCII first character outside
its set, followed by each of a few hundred comment texts of every family (the rest of an opener,
an opener, an opener after a blank or a second character), must not parse as comments only.
Prints each input that does and exits 1. Rerun it when `tree-sitter-language-pack` changes,
or to vet a new entry (`python scripts/check_comment_starts.py GRAMMAR`); it takes about
five minutes for the whole table on one core.
"""

from __future__ import annotations

import string
import sys

from deployments.suggestions import syntax
from deployments.suggestions.comment_starts import COMMENT_STARTS

OPENERS = ["//", "/*", "/**", "///", "//!", "////", "#", "#!", "#[", "#=", "#|", "#;", "#_", "--"]
OPENERS += ["--[[", "{-", "(*", "<!--", "-->", "=begin", "=pod", ";", "%", "%{", "!", "<#"]
OPENERS += ["{", '"']
OPENERS += ["'", "*", "@", "/+", "{#", "(comment ", "`", "|", "rem ", "::", "%%", "#if 0\n", "="]
CLOSERS = {"/*": " */", "/**": " */", "#[": " ]#", "#|": " |#", "{-": " -}", "(*": " *)"}
CLOSERS |= {"<!--": " -->", "=begin": "\n=end", "=pod": "\n=cut", "%{": "\n%}", "<#": " #>"}
CLOSERS |= {"{": " }", "/+": " +/", "{#": " #}", "(comment ": ")", "#if 0\n": "\n#endif"}
CLOSERS |= {"#_": "(x)", "#;": "(x)", "--[[": " ]]", '"': '"', "'": "'", "`": "`"}


def tails() -> list[str]:
    out = {"", " note", "\n", "note\n"}
    for opener in OPENERS:
        close = CLOSERS.get(opener, "")
        out |= {
            opener[1:] + " note" + close + "\n",
            opener + " note" + close + "\n",
            " " + opener + " note" + close,
            "\n" + opener + "\nnote" + close + "\n",
        }
    return sorted(out)


def fooling(grammar: str) -> list[str]:
    allowed = COMMENT_STARTS[grammar] | {"\\"}
    firsts = [chr(c) for c in range(0x21, 0x7F) if chr(c) not in allowed]
    seconds = [" ", "\n", *string.punctuation]
    pairs = [" /* n */\n", " // n\n", " # n\n", " -- n\n", " ; n\n", " (* n *)\n", "\n# n\n"]
    texts = [c + tail for c in firsts for tail in tails()]
    texts += [c + d + tail for c in firsts for d in seconds for tail in pairs]
    return [text for text in texts if syntax.comments_only(syntax.parse(grammar, text))]


def main() -> int:
    grammars = sys.argv[1:] or sorted(COMMENT_STARTS)
    failed = False
    for grammar in grammars:
        bad = fooling(grammar)
        failed = failed or bool(bad)
        print(grammar, "ok" if not bad else f"FOOLED by {bad[:5]!r}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
