"""Syntax trees for completion post-processing (API.md §7.4), from tree-sitter.

Grammars come pre-built in the `tree-sitter-language-pack` wheel (0.x: the grammars are in the
wheel; 1.x downloads them at run time, which a gateway must not do). A grammar is loaded the
first time a completion in its language is post-processed, then kept for the process; parsers
are per thread, since a tree-sitter parser must not parse on two threads at once.

Parsing is bounded: the editor may send 100,000 characters on each side of the cursor, and
tree-sitter parses roughly 2 MB/s here (100 k characters of Python: ~50 ms on this machine). The
steps only look at the code around the cursor, so they parse a window of it: at most
`PREFIX_WINDOW` characters above and `SUFFIX_WINDOW` below, each cut where a top-level line
starts (a line that begins in column 0 with neither a closing bracket nor whitespace), so that
the window parses as a whole file would. A cursor inside a block longer than the window then
sees a partial block; the steps compare error counts before and after, so both sides see the
same cut.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tree_sitter import Language, Node, Parser, Point, Tree

PREFIX_WINDOW = 3_000
SUFFIX_WINDOW = 1_000
# How far past the window a top-level line start is looked for before cutting at any line.
_SEARCH_SLACK = 2_000
_CLOSERS = frozenset("})]")

# Our language table's names (`languages.py`, `model.lang`) -> the pack's grammar names, for
# every language of the table the pack has a grammar for. `.tsx` files get the TSX grammar.
GRAMMARS: dict[str, str] = {
    "c": "c",
    "cpp": "cpp",
    "csharp": "csharp",
    "go": "go",
    "java": "java",
    "js": "javascript",
    "php": "php",
    "python": "python",
    "ruby": "ruby",
    "rust": "rust",
    "scala": "scala",
    "ts": "typescript",
    "kotlin": "kotlin",
    "ada": "ada",
    "apex": "apex",
    "arduino": "arduino",
    "asm": "asm",
    "bash": "bash",
    "bicep": "bicep",
    "cairo": "cairo",
    "clojure": "clojure",
    "commonlisp": "commonlisp",
    "cuda": "cuda",
    "d": "d",
    "dart": "dart",
    "dockerfile": "dockerfile",
    "elisp": "elisp",
    "elixir": "elixir",
    "elm": "elm",
    "erlang": "erlang",
    "fennel": "fennel",
    "fish": "fish",
    "fortran": "fortran",
    "fsharp": "fsharp",
    "gdscript": "gdscript",
    "gleam": "gleam",
    "glsl": "glsl",
    "groovy": "groovy",
    "hack": "hack",
    "hare": "hare",
    "haskell": "haskell",
    "haxe": "haxe",
    "hcl": "hcl",
    "hlsl": "hlsl",
    "janet": "janet",
    "julia": "julia",
    "lua": "lua",
    "luau": "luau",
    "magik": "magik",
    "matlab": "matlab",
    "nim": "nim",
    "nix": "nix",
    "objc": "objc",
    "ocaml": "ocaml",
    "odin": "odin",
    "pascal": "pascal",
    "perl": "perl",
    "pony": "pony",
    "powershell": "powershell",
    "purescript": "purescript",
    "r": "r",
    "racket": "racket",
    "scheme": "scheme",
    "solidity": "solidity",
    "sql": "sql",
    "starlark": "starlark",
    "svelte": "svelte",
    "swift": "swift",
    "tcl": "tcl",
    "terraform": "terraform",
    "v": "v",
    "verilog": "verilog",
    "vhdl": "vhdl",
    "vim": "vim",
    "vue": "vue",
    "wgsl": "wgsl",
    "zig": "zig",
}
_BY_EXTENSION = {"tsx": "tsx"}


def grammar_for(lang: str, extension: str = "") -> str | None:
    """The grammar for a language of our table (`None`: unknown language or no grammar)."""
    grammar = GRAMMARS.get(lang)
    if grammar is None:
        return None
    return _BY_EXTENSION.get(extension.lower(), grammar)


@cache
def _language(grammar: str) -> Language:
    # Imported here: the pack's import costs ~0.15 s, paid only by a replica that post-processes.
    from tree_sitter_language_pack import get_language

    return get_language(grammar)  # type: ignore[arg-type]


_local = threading.local()


def _parser(grammar: str) -> Parser:
    parsers: dict[str, Parser] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    parser = parsers.get(grammar)
    if parser is None:
        from tree_sitter import Parser

        parser = parsers[grammar] = Parser(_language(grammar))
    return parser


def parse(grammar: str, code: str | bytes) -> Tree:
    data = code.encode("utf-8") if isinstance(code, str) else code
    return _parser(grammar).parse(data)


# -- windows -----------------------------------------------------------------------------------
def _line_starts(text: str, lo: int, hi: int) -> list[int]:
    """Starts of the lines of `text` that begin in [lo, hi]."""
    starts = [0] if lo == 0 else []
    pos = text.find("\n", max(lo - 1, 0), hi)
    while pos != -1:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1, hi)
    return [s for s in starts if lo <= s < len(text)]


def _indent(text: str, start: int) -> int | None:
    """Indentation of the line at `start`; None for a blank line or one opening with a closing
    bracket (neither starts a construct)."""
    end = text.find("\n", start)
    line = text[start : end if end != -1 else len(text)]
    body = line.lstrip(" \t")
    if not body.strip() or body[0] in _CLOSERS:
        return None
    return len(line) - len(body)


def _least_indented(text: str, starts: list[int]) -> int | None:
    best: tuple[int, int] | None = None
    for start in starts:
        indent = _indent(text, start)
        if indent == 0:
            return start  # none is less indented, and the first of equals wins
        if indent is not None and (best is None or indent < best[0]):
            best = (indent, start)
    return best[1] if best else None


def prefix_window(prefix: str, size: int = PREFIX_WINDOW) -> str:
    """The end of `prefix`: from the least indented line that starts within `_SEARCH_SLACK`
    characters before the last `size` (the latest such line: the smallest window), else from
    the first line start inside them."""
    if len(prefix) <= size:
        return prefix
    cut = len(prefix) - size
    starts = _line_starts(prefix, max(0, cut - _SEARCH_SLACK), cut + 1)
    start = _least_indented(prefix, starts[::-1])
    if start is None:
        newline = prefix.find("\n", cut)
        start = newline + 1 if newline != -1 else cut
    return prefix[start:]


def suffix_window(suffix: str, size: int = SUFFIX_WINDOW) -> str:
    """The start of `suffix`: up to the least indented line that starts within
    `_SEARCH_SLACK` characters after the first `size` (the earliest such line), else to the
    first line end after them."""
    if len(suffix) <= size:
        return suffix
    starts = _line_starts(suffix, size, size + _SEARCH_SLACK)
    end = _least_indented(suffix, starts)
    if end is None:
        newline = suffix.find("\n", size)
        end = newline + 1 if newline != -1 else len(suffix)
    return suffix[:end]


# -- queries -------------------------------------------------------------------------------------
def error_starts(tree: Tree) -> list[int]:
    """Byte offsets where the tree's innermost errors start: each ERROR or MISSING node, or
    node with one, that holds no smaller one (upstream's `ErrorBlocksVisitor`)."""
    starts: list[int] = []
    stack: list[Node] = [tree.root_node] if tree.root_node.has_error else []
    while stack:
        node = stack.pop()
        inner = [child for child in node.children if child.has_error]
        if inner:
            stack.extend(reversed(inner))
        else:
            starts.append(node.start_byte)
    return starts


def comments_only(tree: Tree) -> bool:
    """Whether the code is nothing but comments (and parses cleanly)."""
    root = tree.root_node
    if root.has_error or root.child_count == 0:
        return False
    return all("comment" in child.type for child in root.children)


def smallest_block_end(tree: Tree, target: int) -> int | None:
    """End byte of the smallest node spanning two lines or more that holds byte `target`
    (upstream's `MinAllowedBlockVisitor` with `min_block_size=2`), if any."""
    best: int | None = None
    stack: list[Node] = [tree.root_node]
    while stack:
        node = stack.pop()
        if not node.start_byte <= target <= node.end_byte:
            continue
        if node.end_point[0] > node.start_point[0] and (best is None or node.end_byte < best):
            best = node.end_byte
        stack.extend(node.children)
    return best


@dataclass(frozen=True, slots=True)
class Window:
    """The code around the cursor that the steps parse, as UTF-8 bytes."""

    prefix: bytes
    suffix: bytes

    @classmethod
    def around(cls, prefix: str, suffix: str = "") -> Window:
        return cls(prefix_window(prefix).encode("utf-8"), suffix_window(suffix).encode("utf-8"))


def _point(data: bytes, start: Point | None = None) -> Point:
    """Where `data` ends when it starts at `start` (rows are `\n`s, columns bytes)."""
    from tree_sitter import Point

    row, column = (start.row, start.column) if start is not None else (0, 0)
    newlines = data.count(b"\n")
    if newlines:
        return Point(row + newlines, len(data) - data.rfind(b"\n") - 1)
    return Point(row, column + len(data))


class Sample:
    """A window parsed once, without the completion; the same window with text at the cursor
    is then parsed incrementally from that tree, which reuses every subtree the insertion
    leaves alone (about a quarter of the cost of a fresh parse here)."""

    def __init__(self, grammar: str, window: Window) -> None:
        self.grammar = grammar
        self.window = window
        self.tree = parse(grammar, window.prefix + window.suffix)
        self._cursor = _point(window.prefix)
        self._end = _point(window.suffix, self._cursor)

    def with_text(self, middle: bytes, *, suffix: bool = True) -> Tree:
        """The tree of prefix + `middle` (+ suffix, unless `suffix` is false)."""
        prefix, rest = self.window.prefix, self.window.suffix
        tree = self.tree.copy()  # the cached tree may be shared across threads: edit a copy
        tree.edit(
            start_byte=len(prefix),
            old_end_byte=len(prefix) + (0 if suffix else len(rest)),
            new_end_byte=len(prefix) + len(middle),
            start_point=self._cursor,
            old_end_point=self._cursor if suffix else self._end,
            new_end_point=_point(middle, self._cursor),
        )
        data = prefix + middle + (rest if suffix else b"")
        return _parser(self.grammar).parse(data, tree)


@lru_cache(maxsize=8)
def sample(grammar: str, prefix: str, suffix: str) -> Sample:
    """The parsed window around a cursor: the steps of one completion share it."""
    return Sample(grammar, Window.around(prefix, suffix))
