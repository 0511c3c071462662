"""Completions on a real-sized file: what an IDE sends from a big module.

The canned-size cells measure the gateway's fixed cost; here assembly tokenizes 20,000
characters of real Python (the standard library's asyncio event loop), which takes
milliseconds. The last cell is a small completion while big ones run at c=4: it shows whether
the big ones stall the rest of the replica.
"""

from __future__ import annotations

import asyncio.base_events
import inspect
import threading
from typing import Any

from bench.load import Cell, measure
from tests.payloads import v2_body

PREFIX_CHARS = 16_000
SUFFIX_CHARS = 4_000


def big_body() -> dict[str, Any]:
    source = inspect.getsource(asyncio.base_events)
    body = v2_body()
    body["current_file"]["content_above_cursor"] = source[:PREFIX_CHARS]
    body["current_file"]["content_below_cursor"] = source[
        PREFIX_CHARS : PREFIX_CHARS + SUFFIX_CHARS
    ]
    return body


def cells(base: str, quick: bool) -> list[Cell]:
    url = f"{base}/v2/code/completions"
    big = big_body()
    scale = 4 if quick else 1
    measure("warm-up", url, big, 8, 100 // scale)
    out = [
        measure("/v2 20k-char file", url, big, 1, 300 // scale),
        measure("/v2 20k-char file", url, big, 8, 600 // scale),
    ]
    background: list[Cell] = []
    worker = threading.Thread(
        target=lambda: background.append(
            measure("/v2 20k-char file (behind)", url, big, 4, 600 // scale)
        )
    )
    worker.start()
    out.append(measure("/v2 small, 20k-char files at c=4", url, v2_body(), 1, 300 // scale))
    worker.join()
    return out + background
