"""The local docs index: SQLite FTS5 with BM25 ranking, one row per section of a page.

`build_index` writes it (`aigw docs-index PATH`) to a temporary file renamed into place, so a
gateway reading the old index never sees a half-built one. `LocalDocsSearch` answers the
search endpoint from it when custom models are enabled. Words of a query are OR-ed (a question
in plain words rarely has all of them in one section) and BM25 ranks what matched, a match in a
page title or section heading weighing more than one in the text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from deployments.search.markdown_docs import DOCS_SITE, markdown_files, sections
from deployments.search.types import SearchHit, within_tokens

logger = logging.getLogger("aigw.search")

SCHEMA_VERSION = 1
# Column weights for bm25(): title, heading, text (metadata is not indexed).
WEIGHTS = (8.0, 4.0, 1.0)
SNIPPET_TOKENS = 24
MAX_QUERY_TERMS = 32
_WORD = re.compile(r"\w+", re.UNICODE)
# Words a question is made of that say nothing about what it asks.
_STOPWORDS = (
    "a an and are as at be by can do does for from how i in is it me my of on or our that the"
    " this to use using what when where which who why will with you your"
)
STOPWORDS = frozenset(_STOPWORDS.split(" "))


@dataclass(frozen=True, slots=True)
class IndexStats:
    pages: int
    sections: int
    seconds: float


def build_index(docs: Path, output: Path, base_url: str = DOCS_SITE) -> IndexStats:
    """Index every `*.md` under `docs` into a new SQLite file at `output`."""
    started = time.perf_counter()
    files = markdown_files(docs)
    if not files:
        raise ValueError(f"no Markdown files under {docs}")
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    rows = 0
    with closing(sqlite3.connect(partial)) as db:
        db.execute(
            "CREATE VIRTUAL TABLE doc_index USING fts5("
            "title, heading, text, metadata UNINDEXED, "
            "tokenize='porter unicode61')"
        )
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        for file in files:
            batch = [
                (
                    s.title,
                    s.heading,
                    s.text,
                    json.dumps(
                        {
                            "title": s.title,
                            "section": s.heading,
                            "source_url": s.url,
                            "filename": s.page,
                            "md5sum": s.md5sum,
                            "source": "gitlab-docs",
                        }
                    ),
                )
                for s in sections(docs, file, base_url)
            ]
            db.executemany(
                "INSERT INTO doc_index (title, heading, text, metadata) VALUES (?, ?, ?, ?)",
                batch,
            )
            rows += len(batch)
        db.execute("INSERT INTO doc_index(doc_index) VALUES ('optimize')")
        db.commit()
    partial.replace(output)
    return IndexStats(len(files), rows, time.perf_counter() - started)


def match_expression(query: str) -> str:
    """The query as an FTS5 expression: its words, stop words dropped (unless nothing else
    is left), each quoted (so no word is read as FTS5 syntax) and OR-ed."""
    words = [w.lower() for w in _WORD.findall(query)]
    kept = [w for w in words if w not in STOPWORDS] or words
    unique = list(dict.fromkeys(kept))[:MAX_QUERY_TERMS]
    return " OR ".join(f'"{w}"' for w in unique)


class LocalDocsSearch:
    """Searches the index at `path`; a missing index answers no results (and says so in the
    log), as upstream's SQLite search does."""

    provider = "sqlite"

    def __init__(self, path: str, max_tokens: int = 8000) -> None:
        self.path = Path(path)
        self.max_tokens = max_tokens

    async def search(self, query: str, gl_version: str, page_size: int) -> list[SearchHit]:
        expression = match_expression(query)
        if not expression:
            return []
        hits = await asyncio.to_thread(self._query, expression, page_size)
        return within_tokens(hits, self.max_tokens)

    def _query(self, expression: str, page_size: int) -> list[SearchHit]:
        if not self.path.is_file():
            logger.warning("docs search: no index at %s (build it with aigw docs-index)", self.path)
            return []
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as db:
            rows = db.execute(
                "SELECT text, metadata, "
                f"snippet(doc_index, 2, '', '', '…', {SNIPPET_TOKENS}) "
                f"FROM doc_index WHERE doc_index MATCH ? ORDER BY bm25(doc_index, {_weights()}) "
                "LIMIT ?",
                (expression, page_size),
            ).fetchall()
        hits = []
        for content, metadata, snippet in rows:
            meta = json.loads(metadata)
            meta["snippet"] = snippet
            hits.append(SearchHit(id=meta["source_url"], content=content, metadata=meta))
        return hits


def _weights() -> str:
    return ", ".join(str(w) for w in WEIGHTS)
