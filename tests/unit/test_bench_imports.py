"""Every benchmark module imports: `make bench` and `make bench-upstream` are not run by CI, so
a helper removed from the code they import would otherwise be found only by the next person
measuring (bench.upstream lost `child_env` that way)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("name", sorted(p.stem for p in BENCH.glob("*.py") if p.stem != "__init__"))
def test_bench_module_imports(name: str) -> None:
    importlib.import_module(f"bench.{name}")
