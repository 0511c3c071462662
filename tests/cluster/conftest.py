"""Cluster tier (`make test-cluster`): a multi-node Ray cluster of its own, so it never runs
in the same pytest session as the integration tier's Ray; collected only when named."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    named = any(Path(arg.split("::")[0]).resolve().is_relative_to(HERE) for arg in config.args)
    return None if named else True
