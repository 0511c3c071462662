"""Which tokenizer the PromptAssembler counts and truncates with.

The embedded model's own tokenizer (llama.cpp vocab-only load of the shipped SmolLM2 GGUF) is
the default: real counts, offline. Where the `model` extra is not installed, a character-based
stand-in (four characters a token) keeps the gateway serving, with a warning in the log.
"""

from __future__ import annotations

import logging

from deployments.suggestions.truncation import TokenCounter

logger = logging.getLogger("aigw.tokens")

_CHARS = 4
_BITS = 21  # a Unicode code point fits in 21 bits


class CharTokenizer:
    """Four characters a token; ids pack the characters, so decode is exact."""

    max_chars_per_token = _CHARS

    def encode(self, text: str) -> list[int]:
        ids = []
        for start in range(0, len(text), _CHARS):
            chunk = text[start : start + _CHARS]
            packed = len(chunk)
            for ch in chunk:
                packed = (packed << _BITS) | ord(ch)
            ids.append(packed)
        return ids

    def decode(self, ids: list[int]) -> str:
        out = []
        for packed in ids:
            chars = []
            while packed >> _BITS:
                chars.append(chr(packed & ((1 << _BITS) - 1)))
                packed >>= _BITS
            out.append("".join(reversed(chars)))
        return "".join(out)

    def count(self, text: str) -> int:
        return -(-len(text) // _CHARS)


def load_tokenizer() -> TokenCounter:
    """The embedded model's tokenizer, or the character stand-in if it cannot be loaded."""
    try:
        from deployments.suggestions.tokenizer import default_tokenizer

        return default_tokenizer()
    except (ImportError, OSError, ValueError, RuntimeError) as exc:
        logger.warning("no model tokenizer (%s); counting four characters a token", exc)
        return CharTokenizer()
