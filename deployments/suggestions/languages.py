"""Language detection from the file extension, then the editor's language id (API.md §7.2)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True, slots=True)
class Language:
    lang: str  # the contract's lower-cased enum name, reported as `model.lang`
    name: str  # human name, used in prompts and fenced blocks
    extensions: tuple[str, ...]
    editor_ids: tuple[str, ...] = ()


LANGUAGES: tuple[Language, ...] = (
    Language("c", "C", ("c", "h"), ("c",)),
    Language(
        "cpp", "C++", ("cpp", "hpp", "c++", "h++", "cc", "hh", "C", "H", "cxx", "hxx"), ("cpp",)
    ),
    Language("csharp", "C#", ("cs",), ("csharp",)),
    Language("go", "Go", ("go",), ("go",)),
    Language("java", "Java", ("java",), ("java",)),
    Language("js", "JavaScript", ("js", "jsx", "mjs", "cjs"), ("javascript", "javascriptreact")),
    Language("ts", "TypeScript", ("ts", "tsx", "mts", "cts"), ("typescript", "typescriptreact")),
    Language("php", "PHP", ("php", "php3", "php4", "php5", "phps", "phpt"), ("php",)),
    Language("python", "Python", ("py", "pyi", "pyw"), ("python",)),
    Language("ruby", "Ruby", ("rb", "rake", "gemspec"), ("ruby",)),
    Language("rust", "Rust", ("rs",), ("rust",)),
    Language("scala", "Scala", ("scala", "sc"), ("scala",)),
    Language("kotlin", "Kotlin", ("kt", "kts"), ("kotlin",)),
    Language("swift", "Swift", ("swift",), ("swift",)),
    Language("objectivec", "Objective-C", ("m", "mm"), ("objective-c", "objective-cpp")),
    Language("sql", "SQL", ("sql",), ("sql",)),
    Language("shell", "Shell", ("sh", "bash", "zsh", "ksh"), ("shellscript",)),
    Language("powershell", "PowerShell", ("ps1", "psm1", "psd1"), ("powershell",)),
    Language("terraform", "Terraform", ("tf", "tfvars"), ("terraform",)),
    Language("hcl", "HCL", ("hcl",), ("hcl",)),
    Language("dart", "Dart", ("dart",), ("dart",)),
    Language("elixir", "Elixir", ("ex", "exs"), ("elixir",)),
    Language("erlang", "Erlang", ("erl", "hrl"), ("erlang",)),
    Language("haskell", "Haskell", ("hs", "lhs"), ("haskell",)),
    Language("lua", "Lua", ("lua",), ("lua",)),
    Language("perl", "Perl", ("pl", "pm", "pod", "t"), ("perl",)),
    Language("r", "R", ("r", "R"), ("r",)),
    Language("julia", "Julia", ("jl",), ("julia",)),
    Language("clojure", "Clojure", ("clj", "cljs", "cljc", "edn"), ("clojure",)),
    Language("groovy", "Groovy", ("groovy", "gvy", "gradle"), ("groovy",)),
    Language("fsharp", "F#", ("fs", "fsi", "fsx"), ("fsharp",)),
    Language("ocaml", "OCaml", ("ml", "mli"), ("ocaml",)),
    Language("vue", "Vue", ("vue",), ("vue",)),
    Language("svelte", "Svelte", ("svelte",), ("svelte",)),
    Language("zig", "Zig", ("zig",), ("zig",)),
    Language("nix", "Nix", ("nix",), ("nix",)),
    Language("fortran", "Fortran", ("f", "for", "f90", "f95", "f03"), ("fortran",)),
    Language("cobol", "COBOL", ("cob", "cbl", "cpy"), ("cobol",)),
    Language("verilog", "Verilog", ("v", "vh"), ("verilog",)),
    Language("systemverilog", "SystemVerilog", ("sv", "svh"), ("systemverilog",)),
    Language("vhdl", "VHDL", ("vhd", "vhdl"), ("vhdl",)),
    Language("dockerfile", "Dockerfile", ("dockerfile",), ("dockerfile",)),
    Language("html", "HTML", ("html", "htm"), ("html",)),
    Language("css", "CSS", ("css", "scss", "sass", "less"), ("css", "scss", "less")),
    Language("json", "JSON", ("json",), ("json", "jsonc")),
    Language("yaml", "YAML", ("yaml", "yml"), ("yaml",)),
    Language("markdown", "Markdown", ("md", "markdown"), ("markdown",)),
    Language("protobuf", "Protocol Buffers", ("proto",), ("proto", "proto3")),
    Language("graphql", "GraphQL", ("graphql", "gql"), ("graphql",)),
    Language("solidity", "Solidity", ("sol",), ("solidity",)),
    Language("apex", "Apex", ("cls", "trigger"), ("apex",)),
    Language("matlab", "MATLAB", ("mat",), ("matlab",)),
    Language("vb", "Visual Basic", ("vb", "vbs"), ("vb",)),
    Language("assembly", "Assembly", ("asm", "s", "S"), ("asm",)),
    Language("crystal", "Crystal", ("cr",), ("crystal",)),
    Language("nim", "Nim", ("nim",), ("nim",)),
    Language("d", "D", ("d",), ("d",)),
    Language("haml", "Haml", ("haml",), ("haml",)),
    Language("twig", "Twig", ("twig",), ("twig",)),
    Language("cmake", "CMake", ("cmake",), ("cmake",)),
    Language("makefile", "Makefile", ("mk", "mak"), ("makefile",)),
)

_BY_EXTENSION: dict[str, Language] = {}
_BY_EDITOR_ID: dict[str, Language] = {}
for _language in LANGUAGES:
    for _ext in _language.extensions:
        _BY_EXTENSION.setdefault(_ext, _language)
    for _editor_id in _language.editor_ids:
        _BY_EDITOR_ID.setdefault(_editor_id, _language)


def file_extension(file_name: str) -> str:
    """The extension without its dot, case kept (`.C` is C++, `.c` is C)."""
    return PurePosixPath(file_name.strip()).suffix.lstrip(".")


def detect_language(file_name: str, editor_language_id: str | None = None) -> Language | None:
    """Extension first (case-sensitive, then lower-cased); the editor id only if it is unknown."""
    ext = file_extension(file_name)
    found = _BY_EXTENSION.get(ext) or _BY_EXTENSION.get(ext.lower())
    if found is None and not ext and PurePosixPath(file_name.strip()).name.lower() == "dockerfile":
        found = _BY_EXTENSION["dockerfile"]
    if found is None and editor_language_id:
        found = _BY_EDITOR_ID.get(editor_language_id.strip().lower())
    return found
