"""Our language table against upstream's (API.md §7.2): `ai_gateway/code_suggestions/processing/
ops.py` `_ALL_LANGS` of the LATEST gateway, written out here as data. Every difference in a
language's name, extensions or editor ids is listed; the list must be empty."""

from __future__ import annotations

from deployments.suggestions.languages import LANGUAGES

# lang | human name | extensions | editor language ids (as upstream's table has them)
UPSTREAM = """
c|C|c h|c
cpp|C++|cpp hpp c++ h++ cc hh C H|cpp
csharp|C#|cs|csharp
go|Go|go|go
java|Java|java|java
js|JavaScript|js jsx|javascript javascriptreact
php|PHP|php php3 php4 php5 phps phpt|php
python|Python|py|python
ruby|Ruby|rb|ruby
rust|Rust|rs|rust
scala|Scala|scala|scala
ts|TypeScript|ts tsx|typescript typescriptreact
kotlin|Kotlin|kts kt|kotlin
ada|Ada|adb ads ada|ada
apex|Apex|cls trigger|apex
arduino|Arduino|ino|arduino
asm|Assembly|asm s S|asm x86asm
awk|AWK|awk|awk
bash|Bash|sh bash|shellscript bash
batch|Batch|bat cmd|bat
bicep|Bicep|bicep|bicep
c3|C3|c3|c3
cairo|Cairo|cairo|cairo
clojure|Clojure|clj cljs cljc|clojure
cobol|COBOL|cbl cob cobol|cobol
commonlisp|Common Lisp|lisp cl lsp|commonlisp lisp
crystal|Crystal|cr|crystal
cuda|CUDA|cu cuh|cuda cuda-cpp
d|D|d|d
dart|Dart|dart|dart
devicetree|DeviceTree|dts dtsi|dts
dockerfile|Dockerfile|dockerfile|dockerfile
elisp|Emacs Lisp|el|emacs-lisp
elixir|Elixir|ex exs|elixir
elm|Elm|elm|elm
erlang|Erlang|erl hrl|erlang
fennel|Fennel|fnl|fennel
fish|Fish|fish|fish
fortran|Fortran|f f90 f95 f03 f08 f77 for|fortran FortranFreeForm
fsharp|F#|fs fsi fsx|fsharp
gdscript|GDScript|gd|gdscript
gleam|Gleam|gleam|gleam
glsl|GLSL|glsl vert frag|glsl
groovy|Groovy|groovy gvy gy gsh|groovy
hack|Hack|hack|hack
hare|Hare|ha|hare
haskell|Haskell|hs lhs|haskell
haxe|Haxe|hx|haxe
hcl|HCL|hcl|hcl
hlsl|HLSL|hlsl|hlsl
idris|Idris|idr|idris
jai|Jai|jai|jai
janet|Janet|janet|janet
jq|jq|jq|jq
julia|Julia|jl|julia
lua|Lua|lua|lua
luau|Luau|luau|luau
magik|Magik|magik|magik
matlab|MATLAB|mat|matlab
mojo|Mojo|mojo|mojo
move|Move|move|move
nim|Nim|nim|nim
nix|Nix|nix|nix
objc|Objective-C|m mm|objective-c objective-cpp
ocaml|OCaml|ml mli|ocaml
odin|Odin|odin|odin
pascal|Pascal|pas pp|pascal objectpascal
perl|Perl|pl pm pod t|perl
pony|Pony|pony|pony
powershell|PowerShell|ps1 psm1 psd1|powershell
prolog|Prolog|pro prolog|prolog
purescript|PureScript|purs|purescript
ql|CodeQL|ql qll|ql codeql
r|R|r R|r
racket|Racket|rkt|racket
rescript|ReScript|res resi|rescript
robot|Robot Framework|robot|robot
roc|Roc|roc|roc
scheme|Scheme|scm ss|scheme
smalltalk|Smalltalk|st|smalltalk
solidity|Solidity|sol|solidity
sourcepawn|SourcePawn|sp|sourcepawn
sql|SQL|sql|sql
starlark|Starlark|star bzl|starlark bazel
svelte|Svelte|svelte|svelte
swift|Swift|swift|swift
systemverilog|SystemVerilog|sv svh|systemverilog
tact|Tact|tact|tact
tcl|Tcl|tcl tk|tcl
terraform|Terraform|tf tfvars|terraform
tlaplus|TLA+|tla|tlaplus
v|V|vsh vv|v
vb|Visual Basic|vb bas vbs|vb vbscript
verilog|Verilog|v|verilog
vhdl|VHDL|vhd vhdl|vhdl
vim|Vimscript|vim|vim viml
vue|Vue|vue|vue
wgsl|WGSL|wgsl|wgsl
zig|Zig|zig|zig
zsh|Zsh|zsh|zsh
"""


def upstream_table() -> dict[str, tuple[str, frozenset[str], frozenset[str]]]:
    table = {}
    for line in UPSTREAM.strip().splitlines():
        lang, name, exts, editors = line.split("|")
        table[lang] = (name, frozenset(exts.split()), frozenset(editors.split()))
    return table


def differences() -> list[str]:
    upstream = upstream_table()
    ours = {
        language.lang: (
            language.name,
            frozenset(language.extensions),
            frozenset(language.editor_ids),
        )
        for language in LANGUAGES
    }
    found = [f"{lang}: missing" for lang in upstream.keys() - ours.keys()]
    found += [f"{lang}: not upstream's" for lang in ours.keys() - upstream.keys()]
    for lang in sorted(upstream.keys() & ours.keys()):
        (their_name, their_exts, their_ids), (name, exts, ids) = upstream[lang], ours[lang]
        if name != their_name:
            found.append(f"{lang}: name {name!r}, upstream {their_name!r}")
        if exts != their_exts:
            found.append(
                f"{lang}: extensions +{sorted(exts - their_exts)} -{sorted(their_exts - exts)}"
            )
        if ids != their_ids:
            found.append(
                f"{lang}: editor ids +{sorted(ids - their_ids)} -{sorted(their_ids - ids)}"
            )
    return found


def test_the_language_table_is_upstreams() -> None:
    assert len(upstream_table()) == 100
    assert differences() == []


def test_an_extension_upstream_lacks_falls_back_to_the_editor_id() -> None:
    from deployments.suggestions.languages import detect_language

    found = detect_language("src/index.mjs", "javascript")
    assert found is not None and found.lang == "js"
    assert detect_language("src/index.mjs") is None  # upstream: no language, lang ""
