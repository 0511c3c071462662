"""Docs index build time and query latency over a generated tree of Markdown pages:
`python -m bench.docs_index [PAGES]` (default 1,000 pages of 6 sections, ~1,100 words each).
A worst case for the query: its 46-word topic vocabulary puts every query word in most
sections, so BM25 ranks thousands of matches per query (real docs' words are far rarer)."""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from deployments.search.docs_index import LocalDocsSearch, build_index

_TOPICS = (
    "pipeline runner job artifact cache variable schedule merge request review approval branch"
    " protected tag release package registry container image deploy environment cluster agent"
    " kubernetes terraform secret token permission group project member role issue epic label"
    " milestone board wiki snippet webhook integration backup restore upgrade geo replication"
)
TOPICS = _TOPICS.split(" ")
_FILLER = "the a to of and in for with on by it is be that this you can your from"
FILLER = _FILLER.split(" ")


def page(rng: random.Random, n: int) -> str:
    topic = rng.sample(TOPICS, 3)
    lines = [f"---\ntitle: {topic[0].title()} {topic[1]} guide {n}\n---\n"]
    for s in range(6):
        lines.append(f"## {rng.choice(TOPICS).title()} {rng.choice(TOPICS)} {s}\n")
        words = [rng.choice(TOPICS if rng.random() < 0.3 else FILLER) for _ in range(180)]
        lines.append(" ".join(words) + ".\n")
    return "\n".join(lines)


def main(pages: int = 1000) -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "doc"
        for n in range(pages):
            path = root / rng.choice(TOPICS) / rng.choice(TOPICS) / f"page_{n}.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(page(rng, n))
        output = Path(tmp) / "docs.db"
        stats = build_index(root, output)
        size = output.stat().st_size / 1e6
        print(
            f"build: {stats.pages} pages, {stats.sections} sections, {stats.seconds:.2f} s, "
            f"{size:.1f} MB"
        )
        search = LocalDocsSearch(str(output))
        queries = [
            f"How do I {rng.choice(TOPICS)} a {rng.choice(TOPICS)} with {rng.choice(TOPICS)}?"
            for _ in range(300)
        ]

        async def run() -> list[float]:
            await search.search("warm up the page cache", "17.3", 4)
            times = []
            for q in queries:
                t = time.perf_counter()
                await search.search(q, "17.3", 4)
                times.append((time.perf_counter() - t) * 1000)
            return times

        times = sorted(asyncio.run(run()))
        p99 = times[int(len(times) * 0.99) - 1]
        print(
            f"query (page_size 4, {len(times)} queries): p50 {statistics.median(times):.2f} ms, "
            f"p99 {p99:.2f} ms, max {times[-1]:.2f} ms"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
