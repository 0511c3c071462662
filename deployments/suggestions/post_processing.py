"""Post-processing of model output for code suggestions (API.md §7.4, §7.5).

Completion steps form an ordered pipeline whose steps can be switched off by name
(`AIGW_FEATURE_FLAGS__EXCL_POST_PROCESS`); parser-based steps (tree-sitter) are not built yet.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

_FENCE_OPEN = re.compile(r"^\s*```[\w.+#-]*[ \t]*\n?")
_FENCE_CLOSE = re.compile(r"\n?```\s*$")
_ASTERISKS = re.compile(r"^\s*\*{5,}")


def clean_irrelevant_keywords(text: str, prefix: str) -> str:
    return text.replace("<|cursor|>", "")


def strip_whitespaces(text: str, prefix: str) -> str:
    return "" if not text.strip() else text


def strip_asterisks(text: str, prefix: str) -> str:
    return "" if _ASTERISKS.match(text) else text


def clean_model_reflection(text: str, prefix: str) -> str:
    """Drop runs of completion lines that repeat lines already written before the cursor.

    A single repeated comment line is kept (models legitimately echo a comment header), and so
    is a large block of five or more lines with few symbols (prose, not a copy of code).
    """
    seen = {line.strip() for line in prefix.splitlines() if line.strip()}
    if not seen:
        return text
    lines = text.split("\n")
    keep: list[str] = []
    group: list[str] = []

    def flush() -> None:
        if not group:
            return
        is_single_comment = len(group) == 1 and group[0].strip().startswith(("#", "//", "--", "/*"))
        symbols = sum(not ch.isalnum() and not ch.isspace() for line in group for ch in line)
        chars = sum(len(line) for line in group) or 1
        if is_single_comment or (len(group) >= 5 and symbols / chars < 0.05):
            keep.extend(group)
        group.clear()

    for index, line in enumerate(lines):
        # The first line continues the cursor's line, so it is never a reflection.
        if index > 0 and line.strip() and line.strip() in seen:
            group.append(line)
            continue
        flush()
        keep.append(line)
    flush()
    return "\n".join(keep)


Step = Callable[[str, str], str]

COMPLETION_STEPS: tuple[tuple[str, Step], ...] = (
    ("clean_irrelevant_keywords", clean_irrelevant_keywords),
    ("clean_model_reflection", clean_model_reflection),
    ("strip_whitespaces", strip_whitespaces),
)
PROVIDER_EXTRA_STEPS: dict[str, tuple[tuple[str, Step], ...]] = {
    "vertex-ai": (("strip_asterisks", strip_asterisks),),
}


def post_process_completion(
    text: str, prefix: str, engine: str = "", excluded: Iterable[str] = ()
) -> str:
    skip = set(excluded)
    for name, step in (*COMPLETION_STEPS, *PROVIDER_EXTRA_STEPS.get(engine, ())):
        if name in skip:
            continue
        text = step(text, prefix)
        if not text:
            return ""
    return text


def strip_code_fence(text: str) -> str:
    text = _FENCE_OPEN.sub("", text, count=1) if text.lstrip().startswith("```") else text
    return _FENCE_CLOSE.sub("", text)


def post_process_generation(text: str, prefix: str, engine: str = "") -> str:
    if engine == "anthropic":
        return strip_whitespaces(text, prefix)
    text = strip_code_fence(text)
    if prefix and not prefix.endswith("\n") and not text.startswith("\n"):
        text = "\n" + text
    text = clean_model_reflection(text, prefix)
    return strip_whitespaces(text, prefix)


class FenceStripper:
    """Line-buffered fence stripping for streamed generations (API.md §7.5)."""

    def __init__(self) -> None:
        self._buffer = ""
        self._first_line = True

    def feed(self, chunk: str) -> Iterator[str]:
        self._buffer += chunk
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            out = self._line(line)
            if out is not None:
                yield out + "\n"

    def finish(self) -> Iterator[str]:
        if self._buffer:
            out = self._line(self._buffer)
            self._buffer = ""
            if out is not None:
                yield out

    def _line(self, line: str) -> str | None:
        if line.strip().startswith("```"):
            self._first_line = False
            return None
        self._first_line = False
        return line
