"""Token-budget truncation of prefix, suffix and code context (API.md §7.3).

With `B` = the model's input token limit minus the tokens of the prompt template:

- the prefix gets `ceil(0.93·B)` tokens and is cut from the left (the text nearest the cursor
  survives), the suffix gets the rest (7 %) and is cut from the right;
- code context gets what the prefix and suffix left, capped at `floor(B·context_max_percent)`;
  its items are joined with `\\n`, cut from the right, and prepended to the prefix with `\\n`.

Counts are real tokens of the text actually sent, re-counted after each cut (a cut can split a
multibyte character or merge tokens differently; the result never exceeds its budget).

No work is proportional to text that cannot be kept. A token covers at most
`max_chars_per_token` characters (the vocabulary's longest piece), so `budget` tokens never
span more than `(budget + 1) * max_chars_per_token` characters: anything beyond that is cut by
characters before the tokenizer sees it. A 50 MB code context for a 2,000-token budget is
tokenized as 166,000 characters, not 50 million (before: ~20 s and ~4 GB of token ids).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

SUFFIX_RESERVED_PERCENT = 0.07


class TokenCounter(Protocol):
    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: list[int]) -> str: ...
    def count(self, text: str) -> int: ...

    @property
    def max_chars_per_token(self) -> int:
        """The most characters one token can stand for (its vocabulary's longest piece)."""
        ...


def char_cap(tokenizer: TokenCounter, budget: int) -> int:
    """Characters that can hold `budget` tokens at most: more text is never kept."""
    return (max(0, budget) + 1) * max(1, tokenizer.max_chars_per_token)


@dataclass(frozen=True, slots=True)
class Piece:
    text: str
    tokens: int


@dataclass(frozen=True, slots=True)
class Fitted:
    """The truncated parts and what the response's token metadata reports."""

    prefix: str  # context (if any) + "\n" + truncated prefix
    suffix: str
    budget: int
    prefix_part: Piece
    suffix_part: Piece
    context_sent: Piece  # all context items, before truncation
    context_used: Piece  # after truncation (empty when none fitted)


# Tokenizing a 100,000-character file to keep 2,000 tokens of it wastes most of the work: look
# at a window a few characters a token wide first, and widen it only if it holds too few.
_WINDOW_CHARS_PER_TOKEN = 8


def _window(tokenizer: TokenCounter, text: str, budget: int, tail: bool) -> tuple[str, list[int]]:
    """A slice of `text` at the kept end, with its ids: the whole text if it fits `budget`,
    else a slice holding more than `budget` tokens."""
    size = budget * _WINDOW_CHARS_PER_TOKEN + 64
    while size < len(text):
        part = text[-size:] if tail else text[:size]
        ids = tokenizer.encode(part)
        if len(ids) > budget + 1:  # +1: the token cut at the window's edge may be partial
            return part, ids
        size *= 4
    return text, tokenizer.encode(text)


def keep_last(tokenizer: TokenCounter, text: str, budget: int) -> Piece:
    """The longest tail of `text` that is at most `budget` tokens."""
    text = text[-char_cap(tokenizer, budget) :]
    part, ids = _window(tokenizer, text, budget, tail=True)
    if len(ids) <= budget:
        return Piece(part, len(ids))
    take = budget
    while take > 0:
        tail = tokenizer.decode(ids[-take:])
        tokens = tokenizer.count(tail)
        if tokens <= budget:
            return Piece(tail, tokens)
        take -= 1
    return Piece("", 0)


def keep_first(tokenizer: TokenCounter, text: str, budget: int) -> Piece:
    """The longest head of `text` that is at most `budget` tokens."""
    text = text[: char_cap(tokenizer, budget)]
    part, ids = _window(tokenizer, text, budget, tail=False)
    if len(ids) <= budget:
        return Piece(part, len(ids))
    take = budget
    while take > 0:
        head = tokenizer.decode(ids[:take])
        tokens = tokenizer.count(head)
        if tokens <= budget:
            return Piece(head, tokens)
        take -= 1
    return Piece("", 0)


def fit(
    tokenizer: TokenCounter,
    *,
    prefix: str,
    suffix: str,
    max_input_tokens: int,
    template_tokens: int = 0,
    context: Sequence[str] = (),
    context_max_percent: float = 1.0,
    suffix_reserved_percent: float = SUFFIX_RESERVED_PERCENT,
) -> Fitted:
    budget = max(0, max_input_tokens - template_tokens)
    prefix_budget = math.ceil((1 - suffix_reserved_percent) * budget)
    suffix_budget = budget - prefix_budget
    prefix_part = keep_last(tokenizer, prefix, prefix_budget)
    suffix_part = keep_first(tokenizer, suffix, suffix_budget)

    # Context can never take more than the whole budget: only that much of it is joined.
    joined, sent_chars = _joined_head(context, char_cap(tokenizer, budget))
    context_sent = _sent(tokenizer, joined, sent_chars)
    context_used = Piece("", 0)
    text = prefix_part.text
    if joined:
        room = budget - prefix_part.tokens - suffix_part.tokens
        room = min(room, math.floor(budget * max(0.0, min(context_max_percent, 1.0))))
        if room > 0:
            context_used = keep_first(tokenizer, joined, room)
        if context_used.text:
            text = f"{context_used.text}\n{text}"
    return Fitted(
        prefix=text,
        suffix=suffix_part.text,
        budget=budget,
        prefix_part=prefix_part,
        suffix_part=suffix_part,
        context_sent=context_sent,
        context_used=context_used,
    )


def _joined_head(items: Sequence[str], limit: int) -> tuple[str, int]:
    """The first `limit` characters of the non-empty `items` joined by `\\n`, and the length
    of the whole join (never built: it can be 50 MB)."""
    kept = [item for item in items if item]
    total = sum(len(item) for item in kept) + max(0, len(kept) - 1)
    head: list[str] = []
    size = 0
    for item in kept:
        if size >= limit:
            break
        if head:
            head.append("\n")
            size += 1
        head.append(item[: max(0, limit - size)])
        size += len(head[-1])
    return "".join(head), total


def _sent(tokenizer: TokenCounter, head: str, total_chars: int) -> Piece:
    """`context_tokens_sent`: exact while the context fits the character cap; beyond it, the
    head's tokens scaled by characters (tokenizing text that is discarded anyway is the cost
    this module avoids)."""
    if not head:
        return Piece("", 0)
    tokens = tokenizer.count(head)
    if total_chars > len(head):
        tokens = math.ceil(tokens * total_chars / len(head))
    return Piece(head, tokens)
