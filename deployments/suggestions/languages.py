"""Language detection from the file extension, then the editor's language id (API.md §7.2).

`LANGUAGES` is the contract's table: one entry per upstream `LanguageId` (100 languages), with
upstream's names, extensions and editor ids exactly (`tests/unit/test_language_table_upstream.py`
lists the differences: none), whose lower-cased enum name is what responses report as
`model.lang`. A file upstream does not know by its extension (`.mjs`, `.pyi`) is known by the
editor's language id, as upstream does. `EXTRA_LANGUAGES` are file
types the upstream table lacks (HTML, YAML, JSON...): they give prompts a language name, but the
response reports `lang: ""` for them, as the upstream gateway does.

Matching: the extension without its dot, case-sensitive first (`.C` is C++, `.c` is C), then
lower-cased (`.PY` is Python); a file named `Dockerfile` (or `Dockerfile.*`) is a Dockerfile; the
editor's language id is used only when the extension is unknown.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True, slots=True)
class Language:
    lang: str  # the contract's lower-cased LanguageId name, reported as `model.lang` ("" if none)
    name: str  # human name, used in prompts
    extensions: tuple[str, ...]
    editor_ids: tuple[str, ...] = ()
    fence: str = ""  # markdown fence tag; defaults to `lang`

    @property
    def fence_tag(self) -> str:
        return self.fence or self.lang


def _l(
    lang: str, name: str, exts: str, editor: str = "", fence: str = "", *, ids: bool = True
) -> Language:
    editor_ids = tuple(editor.split()) if editor else ((lang,) if ids else ())
    return Language(lang, name, tuple(exts.split()), editor_ids, fence)


LANGUAGES: tuple[Language, ...] = (
    _l("c", "C", "c h"),
    _l("cpp", "C++", "cpp hpp c++ h++ cc hh C H", "cpp"),
    _l("csharp", "C#", "cs", "csharp"),
    _l("go", "Go", "go"),
    _l("java", "Java", "java"),
    _l("js", "JavaScript", "js jsx", "javascript javascriptreact", "javascript"),
    _l("php", "PHP", "php php3 php4 php5 phps phpt"),
    _l("python", "Python", "py"),
    _l("ruby", "Ruby", "rb"),
    _l("rust", "Rust", "rs"),
    _l("scala", "Scala", "scala"),
    _l("ts", "TypeScript", "ts tsx", "typescript typescriptreact", "typescript"),
    _l("kotlin", "Kotlin", "kt kts"),
    _l("ada", "Ada", "adb ads ada"),
    _l("apex", "Apex", "cls trigger"),
    _l("arduino", "Arduino", "ino"),
    _l("asm", "Assembly", "asm s S", "asm x86asm"),
    _l("awk", "AWK", "awk"),
    _l("bash", "Bash", "sh bash", "shellscript bash"),
    _l("batch", "Batch", "bat cmd", "bat"),
    _l("bicep", "Bicep", "bicep"),
    _l("c3", "C3", "c3"),
    _l("cairo", "Cairo", "cairo"),
    _l("clojure", "Clojure", "clj cljs cljc"),
    _l("cobol", "COBOL", "cbl cob cobol"),
    _l("commonlisp", "Common Lisp", "lisp cl lsp", "commonlisp lisp", "lisp"),
    _l("crystal", "Crystal", "cr"),
    _l("cuda", "CUDA", "cu cuh", "cuda cuda-cpp"),
    _l("d", "D", "d"),
    _l("dart", "Dart", "dart"),
    _l("devicetree", "DeviceTree", "dts dtsi", "dts"),
    _l("dockerfile", "Dockerfile", "dockerfile"),
    _l("elisp", "Emacs Lisp", "el", "emacs-lisp"),
    _l("elixir", "Elixir", "ex exs"),
    _l("elm", "Elm", "elm"),
    _l("erlang", "Erlang", "erl hrl"),
    _l("fennel", "Fennel", "fnl"),
    _l("fish", "Fish", "fish"),
    _l("fortran", "Fortran", "f f90 f95 f03 f08 f77 for", "fortran FortranFreeForm"),
    _l("fsharp", "F#", "fs fsi fsx"),
    _l("gdscript", "GDScript", "gd"),
    _l("gleam", "Gleam", "gleam"),
    _l("glsl", "GLSL", "glsl vert frag"),
    _l("groovy", "Groovy", "groovy gvy gy gsh"),
    _l("hack", "Hack", "hack"),  # `.hh` belongs to C++ headers
    _l("hare", "Hare", "ha"),
    _l("haskell", "Haskell", "hs lhs"),
    _l("haxe", "Haxe", "hx"),
    _l("hcl", "HCL", "hcl"),
    _l("hlsl", "HLSL", "hlsl"),
    _l("idris", "Idris", "idr"),
    _l("jai", "Jai", "jai"),
    _l("janet", "Janet", "janet"),
    _l("jq", "jq", "jq"),
    _l("julia", "Julia", "jl"),
    _l("lua", "Lua", "lua"),
    _l("luau", "Luau", "luau"),
    _l("magik", "Magik", "magik"),
    _l("matlab", "MATLAB", "mat"),
    _l("mojo", "Mojo", "mojo"),
    _l("move", "Move", "move"),
    _l("nim", "Nim", "nim"),
    _l("nix", "Nix", "nix"),
    _l("objc", "Objective-C", "m mm", "objective-c objective-cpp", "objectivec"),
    _l("ocaml", "OCaml", "ml mli"),
    _l("odin", "Odin", "odin"),
    _l("pascal", "Pascal", "pas pp", "pascal objectpascal"),
    _l("perl", "Perl", "pl pm pod t"),
    _l("pony", "Pony", "pony"),
    _l("powershell", "PowerShell", "ps1 psm1 psd1"),
    _l("prolog", "Prolog", "pro prolog"),
    _l("purescript", "PureScript", "purs"),
    _l("ql", "CodeQL", "ql qll", "ql codeql"),
    _l("r", "R", "r R"),
    _l("racket", "Racket", "rkt"),
    _l("rescript", "ReScript", "res resi"),
    _l("robot", "Robot Framework", "robot"),
    _l("roc", "Roc", "roc"),
    _l("scheme", "Scheme", "scm ss"),
    _l("smalltalk", "Smalltalk", "st"),
    _l("solidity", "Solidity", "sol"),
    _l("sourcepawn", "SourcePawn", "sp"),
    _l("sql", "SQL", "sql"),
    _l("starlark", "Starlark", "star bzl", "starlark bazel", "python"),
    _l("svelte", "Svelte", "svelte"),
    _l("swift", "Swift", "swift"),
    _l("systemverilog", "SystemVerilog", "sv svh"),
    _l("tact", "Tact", "tact"),
    _l("tcl", "Tcl", "tcl tk"),
    _l("terraform", "Terraform", "tf tfvars"),
    _l("tlaplus", "TLA+", "tla"),
    _l("v", "V", "vsh vv"),
    _l("vb", "Visual Basic", "vb bas vbs", "vb vbscript"),
    _l("verilog", "Verilog", "v"),
    _l("vhdl", "VHDL", "vhd vhdl"),
    _l("vim", "Vimscript", "vim", "vim viml"),
    _l("vue", "Vue", "vue"),
    _l("wgsl", "WGSL", "wgsl"),
    _l("zig", "Zig", "zig"),
    _l("zsh", "Zsh", "zsh"),
)

# Not in the upstream table: known to prompts, reported as `lang: ""`.
EXTRA_LANGUAGES: tuple[Language, ...] = (
    Language("", "HTML", ("html", "htm"), ("html",), "html"),
    Language("", "CSS", ("css",), ("css",), "css"),
    Language("", "SCSS", ("scss", "sass"), ("scss", "sass"), "scss"),
    Language("", "Less", ("less",), ("less",), "less"),
    Language("", "JSON", ("json", "jsonc"), ("json", "jsonc"), "json"),
    Language("", "YAML", ("yaml", "yml"), ("yaml",), "yaml"),
    Language("", "TOML", ("toml",), ("toml",), "toml"),
    Language("", "XML", ("xml", "xsd", "xsl"), ("xml",), "xml"),
    Language("", "Markdown", ("md", "markdown"), ("markdown",), "markdown"),
    Language("", "Protocol Buffers", ("proto",), ("proto", "proto3"), "protobuf"),
    Language("", "GraphQL", ("graphql", "gql"), ("graphql",), "graphql"),
    Language("", "Haml", ("haml",), ("haml",), "haml"),
    Language("", "Twig", ("twig",), ("twig",), "twig"),
    Language("", "CMake", ("cmake",), ("cmake",), "cmake"),
    Language("", "Makefile", ("mk", "mak"), ("makefile",), "makefile"),
    Language("", "Shell", ("ksh",), (), "sh"),
)

_BY_EXTENSION: dict[str, Language] = {}
_BY_EDITOR_ID: dict[str, Language] = {}
for _language in (*LANGUAGES, *EXTRA_LANGUAGES):
    for _ext in _language.extensions:
        _BY_EXTENSION.setdefault(_ext, _language)
    for _editor_id in _language.editor_ids:
        _BY_EDITOR_ID.setdefault(_editor_id, _language)
_BY_EDITOR_ID_LOWER = {key.lower(): value for key, value in reversed(_BY_EDITOR_ID.items())}


def file_extension(file_name: str) -> str:
    """The extension without its dot, case kept (`.C` is C++, `.c` is C)."""
    name = posixpath.basename(file_name.strip().rstrip("/"))
    return posixpath.splitext(name)[1].lstrip(".")


def detect_language(
    file_name: str, editor_language_id: str | None = None, extension: str | None = None
) -> Language | None:
    """Extension first (exact, then lower-cased); the editor id only if the extension is unknown.
    `extension`: `file_extension(file_name)` when the caller has it already."""
    ext = file_extension(file_name) if extension is None else extension
    found = _BY_EXTENSION.get(ext) or _BY_EXTENSION.get(ext.lower())
    if found is None and PurePosixPath(file_name.strip()).name.lower().startswith("dockerfile"):
        found = _BY_EXTENSION["dockerfile"]
    if found is None and editor_language_id:
        editor = editor_language_id.strip()
        found = _BY_EDITOR_ID.get(editor) or _BY_EDITOR_ID_LOWER.get(editor.lower())
    return found
