"""A folder of Markdown docs as searchable sections: each page's title (front matter
`title:`, else its first `#` heading, else its file name), its URL on the docs site
(`user/project/_index.md` -> `<base>/user/project/`), and its sections (one per `##`/`###`
heading, plus the text before the first) with their `#anchor`."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DOCS_SITE = "https://docs.gitlab.com"
INDEX_PAGES = ("index", "_index", "readme")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_FRONT_TITLE = re.compile(r"^title:\s*(.+?)\s*$", re.MULTILINE)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_ANCHOR_DROP = re.compile(r"[^\w\- ]", re.UNICODE)
SECTION_LEVEL = 3  # `##` and `###` start a section of their own; deeper ones stay inside


@dataclass(frozen=True, slots=True)
class Section:
    page: str  # path of the page, relative to the docs folder
    title: str  # the page's title
    heading: str  # the section's heading ("" for the text before the first)
    url: str  # the page's URL, with the section's anchor
    text: str  # the section's Markdown, its heading included
    md5sum: str  # of the whole page: sections of one page share it


def page_url(relative: Path, base_url: str = DOCS_SITE) -> str:
    parts = list(relative.with_suffix("").parts)
    if parts and parts[-1].lower() in INDEX_PAGES:
        parts.pop()
    path = "/".join(parts)
    return f"{base_url.rstrip('/')}/{path}/" if path else f"{base_url.rstrip('/')}/"


def anchor(heading: str) -> str:
    """The heading's anchor as the docs site makes it: lower case, punctuation dropped,
    spaces to hyphens (`Create a project (API)` -> `create-a-project-api`)."""
    text = re.sub(r"`|\*\*?|__?", "", heading).strip().lower()
    return re.sub(r"\s+", "-", _ANCHOR_DROP.sub("", text))


def _title(front: str, lines: list[str], fallback: str) -> str:
    found = _FRONT_TITLE.search(front)
    if found:
        return found.group(1).strip().strip("'\"")
    for line in lines:
        match = _HEADING.match(line)
        if match and len(match.group(1)) == 1:
            return match.group(2)
    return fallback


def sections(root: Path, file: Path, base_url: str = DOCS_SITE) -> Iterator[Section]:
    raw = file.read_text(encoding="utf-8", errors="replace")
    md5 = hashlib.md5(raw.encode(), usedforsecurity=False).hexdigest()
    front_match = _FRONT_MATTER.match(raw)
    front = front_match.group(1) if front_match else ""
    body = raw[front_match.end() :] if front_match else raw
    lines = body.splitlines()
    relative = file.relative_to(root)
    title = _title(front, lines, relative.stem.replace("_", " ").replace("-", " "))
    url = page_url(relative, base_url)
    heading, fenced = "", False
    current: list[str] = []
    for line in lines:
        if _FENCE.match(line):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match and 1 < len(match.group(1)) <= SECTION_LEVEL:
            yield from _section(relative, title, heading, url, current, md5)
            heading, current = match.group(2), [line]
        else:
            current.append(line)
    yield from _section(relative, title, heading, url, current, md5)


def _section(
    relative: Path, title: str, heading: str, url: str, lines: list[str], md5: str
) -> Iterator[Section]:
    text = "\n".join(lines).strip()
    if not text:
        return
    where = f"{url}#{anchor(heading)}" if heading else url
    yield Section(relative.as_posix(), title, heading, where, text, md5)


def markdown_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.md") if p.is_file())
