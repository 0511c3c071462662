"""Imports point down only (DESIGN.md, "Layers"): a module may import its own layer or a lower
one, never a higher one. Every import counts, function-level ones included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Bottom to top. serve_app is the ingress node and the app builder, the only top.
LAYERS = ["core", "observability", "deployments", "routing", "serve_app"]


def _imported_packages(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def upward_imports(root: Path = ROOT) -> list[str]:
    """'module -> package' for every import of a higher layer."""
    found = []
    for rank, layer in enumerate(LAYERS):
        for path in sorted((root / layer).rglob("*.py")):
            imported = _imported_packages(ast.parse(path.read_text(), str(path)))
            for package in sorted(imported & set(LAYERS[rank + 1 :])):
                found.append(f"{path.relative_to(root)} -> {package}")
    return found


def test_no_layer_imports_a_higher_one() -> None:
    assert upward_imports() == []


def test_the_walk_finds_an_upward_import(tmp_path: Path) -> None:
    for layer in LAYERS:
        (tmp_path / layer).mkdir()
    (tmp_path / "core" / "ok.py").write_text("import json\nfrom core import errors\n")
    (tmp_path / "routing" / "bad.py").write_text(
        "def late():\n    from serve_app.app import build_app\n"
    )
    assert upward_imports(tmp_path) == ["routing/bad.py -> serve_app"]


@pytest.mark.parametrize("layer", LAYERS)
def test_every_layer_is_a_package(layer: str) -> None:
    assert (ROOT / layer / "__init__.py").is_file()
