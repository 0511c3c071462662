"""`aigw docs-index PATH [--output FILE] [--base-url URL]`: index a folder of Markdown docs
(the `doc/` folder of a GitLab checkout, for instance) for the docs search of a gateway with
custom models enabled. The output defaults to `AIGW_DOCS_SEARCH__INDEX_PATH`, where the
gateway reads it; a running gateway picks a rebuilt index up on its next search."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from core.settings import Config
from deployments.search.docs_index import build_index
from deployments.search.markdown_docs import DOCS_SITE


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("docs-index", help="build the local docs search index")
    parser.add_argument("path", type=Path, help="folder of Markdown docs")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--base-url", default=DOCS_SITE, help="docs site the URLs point at")


def main(args: argparse.Namespace) -> int:
    output = args.output or Path(Config().docs_search.index_path)
    if not args.path.is_dir():
        print(f"aigw: {args.path} is not a folder", file=sys.stderr)
        return 1
    try:
        stats = build_index(args.path, output, args.base_url)
    except ValueError as exc:
        print(f"aigw: {exc}", file=sys.stderr)
        return 1
    print(
        f"indexed {stats.pages} pages ({stats.sections} sections) into {output}"
        f" in {stats.seconds:.2f} s"
    )
    return 0
