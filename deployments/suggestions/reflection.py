"""`clean_model_reflection`: drop completion lines that repeat code already before the cursor.

Models often echo the code above the cursor (imports, the function header) after writing
something new. The completion's lines after the cursor's line are compared, stripped, with the
lines before it; each run of consecutive repeated lines is dropped, unless it is a single
comment line (models legitimately restate a comment) or a large block (five lines or more) of
prose-like text: few special characters and low character diversity. Blank lines never count
as repeats.
"""

from __future__ import annotations

from collections import Counter
from itertools import compress, count

_COMMENT_STARTS = ("/*", "//", "#")
_SPECIAL_CHARS = frozenset("()[];.,$%&^*@#!{}/")
_MIN_BLOCK = 5
_MIN_SPECIAL_SHARE = 0.25
_MIN_DIVERSITY = 0.35


def newline_position(text: str, start: int) -> int:
    """Where the line after the cursor's line starts, or -1 if the text has no next line."""
    end = start
    while end and text[end - 1] in " \t":  # not `text[:start].rstrip()`: a copy of the file
        end -= 1
    if end and text[end - 1] == "\n":
        return start
    found = text.find("\n", start)
    return -1 if found == -1 else found + 1


def split_code_lines(text: str) -> list[str]:
    """Lines with their separators kept, each newline leading the line it starts."""
    raw = text.splitlines(keepends=True)
    lines = [("\n" if i else "") + line.rstrip("\n") for i, line in enumerate(raw)]
    if raw and raw[-1].endswith("\n"):
        lines.append("\n")
    return lines


def repeated_runs(source: list[str], target: list[str]) -> list[tuple[int, int]]:
    """[start, end] index ranges of target lines that repeat consecutive source lines.

    The longest common run ending at each (source, target) pair, computed only where the two
    lines are equal: a file of thousands of lines above the cursor shares few lines with a
    completion, so the source lines that match nothing are passed over in C (`compress`)
    instead of each costing a row of the table."""
    positions: dict[str, list[int]] = {}
    for j, tgt in enumerate(target):
        if tgt:
            positions.setdefault(tgt, []).append(j)
    best = [0] * len(target)
    previous: dict[int, int] = {}  # target index -> run length ending at the previous line
    last = -2
    for i in compress(count(), map(positions.__contains__, source)):
        if i != last + 1:
            previous = {}
        current: dict[int, int] = {}
        for j in positions[source[i]]:
            length = current[j] = previous.get(j - 1, 0) + 1
            if length > best[j]:
                best[j] = length
        previous, last = current, i
    runs: list[tuple[int, int]] = []
    for j, length in enumerate(best):
        if not length:
            continue
        if runs and length > 1 and runs[-1][1] == j - 1:
            runs[-1] = (runs[-1][0], j)
        else:
            runs.append((j, j))
    return runs


def _keep_run(lines: list[str]) -> bool:
    if len(lines) == 1 and lines[0].lstrip().startswith(_COMMENT_STARTS):
        return True
    chars = Counter("".join(line.strip() for line in lines))
    total = sum(chars.values())
    if len(lines) < _MIN_BLOCK or not total:
        return False
    special = sum(count for ch, count in chars.items() if ch in _SPECIAL_CHARS)
    return special / total < _MIN_SPECIAL_SHARE and len(chars) / total < _MIN_DIVERSITY


def clean_model_reflection(completion: str, prefix: str) -> str:
    text = prefix + completion
    cut = newline_position(text, len(prefix))
    if cut == -1:
        return completion  # only the cursor's line was completed
    after = split_code_lines(text[cut:])
    # The lines above, stripped, as `split_code_lines` would give them less its final empty
    # line (a blank line never repeats): one C-level pass instead of a Python loop per line.
    before = list(map(str.strip, text[:cut].splitlines()))
    runs = repeated_runs(before, [line.strip() for line in after])
    kept: list[str] = []
    position = 0
    for start, end in runs:
        kept.extend(after[position:start])
        if _keep_run(after[start : end + 1]):
            kept.extend(after[start : end + 1])
        position = end + 1
    kept.extend(after[position:])
    return text[len(prefix) : cut] + "".join(kept)
