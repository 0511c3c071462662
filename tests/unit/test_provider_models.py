"""configs/provider_models.yml: loaded, validated and cross-checked with the catalogue."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from routing.catalogue import CONFIGS_DIR, load_catalogue


def test_the_shipped_tables_load_with_the_catalogue() -> None:
    tables = load_catalogue().provider_models
    vertex = tables.names("vertex-ai")
    assert "code-bison@002" in vertex.allowed("code_generations")
    assert "code-bison@002" not in vertex.allowed("code_completions")
    assert vertex.allowed("duo_chat") == vertex.allowed("code_completions")
    assert tables.names("fireworks_ai").allowed("code_completions") == (
        "codestral-2501",
        "codestral-2508",
    )
    assert tables.names("fireworks_ai").allowed("code_generations") == ()
    assert tables.names("anthropic").gitlab_models["claude-sonnet-4-20250514"] == (
        "claude_sonnet_4_5_20250929"
    )
    assert tables.names("no-such-provider").allowed("code_completions") == ()
    assert "custom_openai" in tables.litellm_prefixes.openai_compatible
    assert "bedrock" in tables.litellm_prefixes.foreign


def broken(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    configs = tmp_path / "configs"
    shutil.copytree(CONFIGS_DIR, configs, ignore=shutil.ignore_patterns("prompts"))
    raw = yaml.safe_load((configs / "provider_models.yml").read_text())
    edit(raw)
    (configs / "provider_models.yml").write_text(yaml.safe_dump(raw))
    return configs


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda raw: raw["providers"]["vertex-ai"]["gitlab_models"].update(
                {"codestral-2508": "codestral_9999_vertex"}
            ),
            "vertex-ai.gitlab_models.codestral-2508 names unknown model 'codestral_9999_vertex'",
        ),
        (
            lambda raw: raw["providers"]["anthropic"].update({"direct_base": "claude_9"}),
            "anthropic.direct_base names unknown model 'claude_9'",
        ),
        (
            lambda raw: raw["providers"]["fireworks_ai"]["names_by_feature"].update(
                {"code_completion": ["x"]}
            ),
            "names unknown feature 'code_completion'",
        ),
        (
            lambda raw: raw["providers"]["amazon_q"].update({"name": ["amazon_q"]}),
            "unknown key 'providers.amazon_q.name'",
        ),
    ],
)
def test_a_broken_table_fails_the_load(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        load_catalogue(broken(tmp_path, edit))
