"""The local docs index over a small generated Markdown tree: what `aigw docs-index` builds
and what a search answers from it (ranking, snippets, URLs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployments.search.docs_index import LocalDocsSearch, match_expression
from deployments.search.markdown_docs import anchor, page_url
from serve_app.cli import main as aigw

PAGES = {
    "user/project/_index.md": (
        "---\ntitle: Create a project\n---\n\nA project holds your repository.\n\n"
        "## Create a blank project\n\nOn the left sidebar, select **New project**.\n\n"
        "## Import a project (API)\n\nUse the import API to bring a repository over.\n"
    ),
    "ci/pipelines/schedules.md": (
        "# Scheduled pipelines\n\nRun pipelines on a schedule with cron syntax.\n\n"
        "## Create a pipeline schedule\n\nOpen Build > Pipeline schedules and set the cron.\n"
        "```yaml\n## not a heading: inside a code block\n```\n"
    ),
    "ci/variables/index.md": (
        "# CI/CD variables\n\nVariables store values such as tokens for pipelines.\n"
    ),
    "administration/backup.md": "# Back up GitLab\n\nRun the backup Rake task nightly.\n",
}


def tree(root: Path, pages: dict[str, str]) -> Path:
    for relative, text in pages.items():
        path = root / "doc" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "doc"


@pytest.fixture
def index(tmp_path: Path) -> Path:
    output = tmp_path / "docs.db"
    assert aigw(["docs-index", str(tree(tmp_path, PAGES)), "--output", str(output)]) == 0
    return output


def test_urls_follow_the_docs_site() -> None:
    assert page_url(Path("user/project/_index.md")) == "https://docs.gitlab.com/user/project/"
    assert page_url(Path("ci/yaml/index.md")) == "https://docs.gitlab.com/ci/yaml/"
    assert page_url(Path("a/b.md"), "http://docs.local/") == "http://docs.local/a/b/"
    assert anchor("Import a project (API)") == "import-a-project-api"
    assert anchor("Use `needs:` keyword") == "use-needs-keyword"


async def test_the_best_section_comes_first_with_its_url_title_and_snippet(index: Path) -> None:
    hits = await LocalDocsSearch(str(index)).search("How do I schedule a pipeline?", "17.3", 4)
    first = hits[0]
    assert first.metadata["title"] == "Scheduled pipelines"
    assert first.metadata["source_url"].startswith(
        "https://docs.gitlab.com/ci/pipelines/schedules/"
    )
    assert first.id == first.metadata["source_url"]
    assert "schedule" in first.metadata["snippet"].lower()
    assert first.metadata["filename"] == "ci/pipelines/schedules.md"
    assert len(first.metadata["md5sum"]) == 32
    # Nothing about backups matched a question about pipelines.
    assert all("backup" not in h.metadata["filename"] for h in hits)


async def test_sections_have_their_own_anchor_and_text(index: Path) -> None:
    hits = await LocalDocsSearch(str(index)).search("import repository API", "17.3", 1)
    assert [h.metadata["source_url"] for h in hits] == [
        "https://docs.gitlab.com/user/project/#import-a-project-api"
    ]
    assert hits[0].content.startswith("## Import a project (API)")
    assert hits[0].metadata["section"] == "Import a project (API)"
    assert hits[0].metadata["title"] == "Create a project"  # front matter title


async def test_page_size_punctuation_and_a_missing_index(index: Path, tmp_path: Path) -> None:
    search = LocalDocsSearch(str(index))
    assert len(await search.search("project pipeline variables backup", "17.3", 2)) == 2
    assert await search.search('"); DROP TABLE doc_index; -- AND OR NEAR(', "17.3", 4) == []
    assert await search.search("?!", "17.3", 4) == []
    assert await LocalDocsSearch(str(tmp_path / "none.db")).search("project", "17.3", 4) == []
    assert match_expression("How do I create a project?") == '"create" OR "project"'


def test_the_command_refuses_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert aigw(["docs-index", str(tmp_path / "empty"), "--output", str(tmp_path / "x")]) == 1
    assert not (tmp_path / "x").exists()
