"""What completion post-processing costs per completion (API.md §7.4), in-process.

`python -m bench.post_processing` prints p50/p99 of `post_process_completion` for a small file
and for a file with 100,000 characters on each side of the cursor (the contract's maximum),
in Python (the standard library's asyncio event loop) and JavaScript (generated), with every
step, without the tree-sitter steps, and with the parse window lifted (the whole prefix and
suffix parsed, as upstream does); and for the mock's echo of `tests/payloads.py` `v2_body()`,
the completion `make bench` post-processes on every request.
"""

from __future__ import annotations

import argparse
import asyncio.base_events
import asyncio.selector_events
import inspect
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from deployments.suggestions import syntax
from deployments.suggestions.post_processing import COMPLETION_STEPS, post_process_completion

SYNTAX_STEPS = [
    "remove_comment_only_completion",
    "trim_by_min_allowed_context",
    "fix_end_block_errors",
]
NOT_SYNTAX = ["clean_model_reflection"]  # the one other step whose cost grows with the file
# Fireworks' `fix_truncation` alone: it parses twice (the text, the text cut back) only when the
# answer used every token, was left alone by the steps before and ends mid-word.
ALL_BUT_TRUNCATION = [step.name for step in COMPLETION_STEPS] + ["filter_score"]
BIG = 100_000


ECHO_PREFIX, ECHO_SUFFIX = "def greet(name):\n    ", "\n\nprint(greet('x'))\n"
ECHO = (
    'echo: {"prefix": "def greet(name):\\n    ", "suffix": "\\n\\nprint(greet(\'x\'))\\n", '
    '"stream": false, "kwargs": {"temperature": "0.2", "max_output_tokens": "64"}}'
)


def python_case(size: int) -> tuple[str, str, str]:
    source = inspect.getsource(asyncio.base_events) + inspect.getsource(asyncio.selector_events)
    source = (source * (2 * size // len(source) + 2))[: 2 * size]
    marker = "    def _check_closed(self):\n        "
    at = source.index(marker, size // 2) + len(marker) if size >= 1_000 else 0
    if size < 1_000:
        prefix = "import os\n\n\ndef list_dir(path):\n    "
        suffix = "\n\n\ndef main():\n    print(list_dir('.'))\n"
    else:
        prefix, suffix = source[max(0, at - size) : at], source[at : at + size]
    completion = "if self._closed:\n            raise RuntimeError('closed')\n\n    def x(self):"
    if size < 1_000:
        completion = "return sorted(os.listdir(path))\n\n\ndef main():\n    pass\n"
    return prefix, suffix, completion


def js_case(size: int) -> tuple[str, str, str]:
    unit = (
        "function f{i}(a, b) {{\n  const s = a + b;\n"
        "  if (s > {i}) {{\n    return s;\n  }}\n  return {i};\n}}\n\n"
    )
    code = "".join(unit.format(i=i) for i in range(2 * size // 80 + 10))
    half = min(size, len(code) // 2)
    prefix = code[:half] + "function add(a, b) {\n  "
    suffix = "\n}\n\n" + code[half : half + size]
    completion = "return a + b;\n}\n\nfunction sub(a, b) {\n  return a - b;\n}"
    return prefix[-size:], suffix[:size], completion


@contextmanager
def whole_file() -> Iterator[None]:
    saved = syntax.PREFIX_WINDOW, syntax.SUFFIX_WINDOW
    syntax.PREFIX_WINDOW = syntax.SUFFIX_WINDOW = 10**9
    defaults = syntax.prefix_window.__defaults__, syntax.suffix_window.__defaults__
    syntax.prefix_window.__defaults__ = (10**9,)
    syntax.suffix_window.__defaults__ = (10**9,)
    try:
        yield
    finally:
        syntax.PREFIX_WINDOW, syntax.SUFFIX_WINDOW = saved
        syntax.prefix_window.__defaults__, syntax.suffix_window.__defaults__ = defaults


def timed(fn: Callable[[], str], n: int) -> tuple[float, float, float]:
    """Wall p50, p99 and mean CPU time per call, in ms (CPU varies less on a shared machine)."""
    fn()  # grammar load
    samples = []
    cpu = time.process_time()
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    cpu_ms = (time.process_time() - cpu) * 1000 / n
    samples.sort()
    return statistics.median(samples), samples[min(n - 1, int(n * 0.99))], cpu_ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=300)
    args = parser.parse_args()
    print("| file | lang | steps | p50 ms | p99 ms | CPU ms |\n|---|---|---|---|---|---|")
    for name, excluded in (("all", []), ("without tree-sitter", SYNTAX_STEPS)):

        def echo(excluded: list[str] = excluded) -> str:
            syntax.sample.cache_clear()
            return post_process_completion(
                ECHO, ECHO_PREFIX, "llm-provider-mocked", excluded, suffix=ECHO_SUFFIX,
                lang="python", extension="py",
            )  # fmt: skip

        p50, p99, cpu = timed(echo, args.n * 10)
        print(f"| v2_body() echo | python | {name} | {p50:.3f} | {p99:.3f} | {cpu:.3f} |")
    for lang, case in (("python", python_case), ("js", js_case)):
        for label, size in (("small", 200), ("100k + 100k chars", BIG)):
            prefix, suffix, completion = case(size)

            def run(
                excluded: list[str],
                p: str = prefix,
                s: str = suffix,
                text: str = completion,
                lang: str = lang,
            ) -> str:
                syntax.sample.cache_clear()  # each request brings its own file
                return post_process_completion(text, p, "vertex-ai", excluded, suffix=s, lang=lang)

            def truncated(
                p: str = prefix, s: str = suffix, text: str = completion.rstrip(), lang: str = lang
            ) -> str:
                syntax.sample.cache_clear()
                return post_process_completion(
                    text, p, "fireworks_ai", ALL_BUT_TRUNCATION, suffix=s, lang=lang,
                    max_output_tokens_used=True,
                )  # fmt: skip

            rows = [
                ("all", lambda: run([])),
                ("without tree-sitter", lambda: run(SYNTAX_STEPS)),
                ("tree-sitter steps only", lambda: run(NOT_SYNTAX)),
                ("fix_truncation only, at the token limit", truncated),
            ]
            for name, fn in rows:
                p50, p99, cpu = timed(fn, args.n)
                print(f"| {label} | {lang} | {name} | {p50:.2f} | {p99:.2f} | {cpu:.2f} |")
            if size == BIG:
                with whole_file():
                    p50, p99, cpu = timed(lambda: run([]), max(10, args.n // 10))
                name = "all, whole file parsed"
                print(f"| {label} | {lang} | {name} | {p50:.2f} | {p99:.2f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
