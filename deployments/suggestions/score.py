"""Fireworks' `filter_score` (API.md §7.4): a completion whose first token the model was
unsure of is dropped. The score is that token's logprob (as upstream reads it); the
threshold is per provider model, from `AIGW_FEATURE_FLAGS__FIREWORKS_SCORE_THRESHOLD`."""

from __future__ import annotations

from typing import Protocol


class Scored(Protocol):
    @property
    def score(self) -> float | None: ...

    @property
    def score_threshold(self) -> float | None: ...


def filter_score(text: str, ctx: Scored) -> str:
    """`""` when both a score and a threshold are known and the score is below it."""
    score, threshold = ctx.score, ctx.score_threshold
    if score is not None and threshold is not None and score < threshold:
        return ""
    return text
