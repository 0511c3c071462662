"""llama.cpp's token ids for SmolLM2's vocabulary without llama.cpp's per-call cost.

llama.cpp splits digits for the `smollm` pre-tokenizer with a `std::regex` it compiles on every
call: ~280,000 of the ~347,000 instructions a short `encode` costs (issue 18). Hugging Face
`tokenizers` (Rust) runs the same pipeline, built here from the GGUF's own tables: Digits
(each digit alone), then GPT-2's byte-level split, then byte-level BPE with the GGUF's merges;
no BOS, no normalizer, and no added tokens, so `<|im_start|>` in user code stays plain text as
llama.cpp's `parse_special=False` keeps it.

The two agree id for id except where llama.cpp is known to differ, and such text goes to
llama.cpp instead (`FastEncoder.encode` returns None):
- a byte the vocabulary has no token for (SmolLM2: \\x04 \\x06 \\x13 \\x14 \\x16 \\x1d and the
  UTF-8 lead bytes of U+40000..U+BFFFF): both drop it, but llama.cpp then never merges across
  the gap and `tokenizers` does;
- code points unassigned in Python's Unicode tables (and lone surrogates): llama.cpp's, Oniguruma's
  and Rust's tables are of different Unicode versions, so they classify newer characters
  (letter, digit, other) differently;
- text longer than `MAX_CHARS`: llama.cpp releases the GIL while it tokenizes, `tokenizers`'
  single `encode` does not, and big inputs are tokenized on worker threads so that the event
  loop keeps serving (deployments/local_assembler.py); the regex compile is noise at that size.
Every other character was checked against llama.cpp (tests/unit/test_fast_tokenizer.py: the
classification of every assigned code point, and ids over a corpus), and a self-check at load
compares a built-in sample with llama.cpp before the fast path is used.
"""

from __future__ import annotations

import bisect
import logging
import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from deployments.suggestions.gguf_vocab import read_metadata

if TYPE_CHECKING:
    from tokenizers import Tokenizer as HFTokenizer

logger = logging.getLogger(__name__)

# Beyond this many characters llama.cpp is used (see the module docstring): ~1 ms of GIL-held
# Rust at most, and every prefix/suffix of a small completion request stays on the fast path.
MAX_CHARS = 4096

# The Unicode tables of Python 3.11, against which the exclusions above were verified. Another
# Python may know characters llama.cpp's tables do not: then llama.cpp is used until re-verified.
VERIFIED_UNICODE = "14.0.0"

_KEYS = {
    "tokenizer.ggml.model",
    "tokenizer.ggml.pre",
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.token_type",
    "tokenizer.ggml.merges",
    "tokenizer.ggml.add_bos_token",
    "tokenizer.ggml.add_space_prefix",
}
# llama.cpp's pre-tokenizer types this module reproduces.
_PRE_TOKENIZERS = {"smollm"}
_LAST_CODE_POINT = 0x10FFFF

# Compared with llama.cpp at load: code, prose, digits of several scripts, whitespace runs,
# emoji, contractions and special-token text.
SELF_CHECK_SAMPLE = (
    "def hello(name: str) -> None:\n    print(f'héllo {name}!')  # 12345\n\n\n",
    "<|im_start|>user\nWrite fizzbuzz<|im_end|>\n<|endoftext|><file_sep><repo_name>",
    "x = 3.14159e-10 + 0x1F + ٣٤٥ + ४२ + ²³ + Ⅻ + 一二三 + \uff11\uff12\uff13",
    "   \t\t  \n\r\n\u3000 \u00a0 \u2009\u200b  end   ",
    "😀👍🏽 🇩🇪 emoji ünïcödé 名前の一覧を返す関数 Привет мир مرحبا",
    "it's they'll I'M we've you'd she's 's 'T",
    "    if (a[i] >= b->c && !d) { return -1; } // TODO: überprüfen",
)


class FastEncoder:
    """`tokenizers` encoding for text it provably handles like llama.cpp, else None."""

    def __init__(self, tokenizer: HFTokenizer, unsafe: Sequence[tuple[int, int]]) -> None:
        self._encode = tokenizer.encode
        self._starts = [start for start, _ in unsafe]
        self._ends = [end for _, end in unsafe]
        # One character class can test the BMP part fast (re builds a bitmap); any astral
        # character matches too and is then looked up in the ranges (a class with hundreds of
        # astral ranges would be scanned range by range for every character: 100x slower).
        bmp = [(start, min(end, 0xFFFF)) for start, end in unsafe if start <= 0xFFFF]
        self._suspect = re.compile(f"[{_char_class(bmp)}\U00010000-\U0010ffff]")

    def encode(self, text: str) -> list[int] | None:
        if len(text) > MAX_CHARS:
            return None
        for match in self._suspect.finditer(text):
            if self._unsafe(ord(match.group())):
                return None
        ids: list[int] = self._encode(text, add_special_tokens=False).ids
        return ids

    def _unsafe(self, code_point: int) -> bool:
        at = bisect.bisect_right(self._starts, code_point) - 1
        return at >= 0 and code_point <= self._ends[at]


def build_fast_encoder(path: Path, reference: Callable[[str], list[int]]) -> FastEncoder | None:
    """The fast encoder for the GGUF at `path`, or None (with one log line saying why) when its
    tokenizer is not one this module reproduces or it disagrees with `reference` (llama.cpp)."""
    try:
        encoder = _build(path)
    except _Unsupported as exc:
        logger.info("tokenizer: llama.cpp encodes (%s)", exc)
        return None
    except (ImportError, OSError, ValueError, RuntimeError) as exc:
        logger.warning("tokenizer: llama.cpp encodes (fast tokenizer failed to build: %s)", exc)
        return None
    for sample in SELF_CHECK_SAMPLE:
        ids = encoder.encode(sample)
        if ids is not None and ids != reference(sample):
            logger.warning(
                "tokenizer: llama.cpp encodes (fast tokenizer differs on a self-check sample)"
            )
            return None
    logger.info("tokenizer: fast path (tokenizers) for %s", path.name)
    return encoder


class _Unsupported(Exception):
    pass


def _build(path: Path) -> FastEncoder:
    if unicodedata.unidata_version != VERIFIED_UNICODE:
        raise _Unsupported(
            f"Python's Unicode {unicodedata.unidata_version} is not the verified {VERIFIED_UNICODE}"
        )
    meta = read_metadata(path, _KEYS)
    model, pre = meta.get("tokenizer.ggml.model"), meta.get("tokenizer.ggml.pre")
    if model != "gpt2" or pre not in _PRE_TOKENIZERS:
        raise _Unsupported(f"tokenizer model {model!r}, pre-tokenizer {pre!r} not mapped")
    if meta.get("tokenizer.ggml.add_bos_token") or meta.get("tokenizer.ggml.add_space_prefix"):
        raise _Unsupported("the GGUF asks for a BOS token or a space prefix")
    tokens: list[str] = meta["tokenizer.ggml.tokens"]
    missing = _missing_bytes(set(tokens))
    unsafe = _merge([*_unassigned(), *_bytes_to_code_points(missing)])
    return FastEncoder(_hf_tokenizer(tokens, meta["tokenizer.ggml.merges"]), unsafe)


def _hf_tokenizer(tokens: list[str], merges: list[str]) -> HFTokenizer:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {token: i for i, token in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise _Unsupported("the vocabulary has duplicate tokens")
    pairs = []
    for merge in merges:
        left, sep, right = merge.partition(" ")
        if not sep or " " in right:
            raise _Unsupported(f"merge {merge!r} is not one pair")
        pairs.append((left, right))
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=pairs))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    return tokenizer


def _byte_level_alphabet() -> dict[int, str]:
    """GPT-2's byte to character map (printable bytes as themselves, the rest from U+0100)."""
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    alphabet = {byte: chr(byte) for byte in printable}
    extra = 0
    for byte in range(256):
        if byte not in alphabet:
            alphabet[byte] = chr(256 + extra)
            extra += 1
    return alphabet


def _missing_bytes(vocab: set[str]) -> list[int]:
    return [byte for byte, char in _byte_level_alphabet().items() if char not in vocab]


def _bytes_to_code_points(missing: list[int]) -> list[tuple[int, int]]:
    """The code points whose UTF-8 form holds one of `missing`."""
    ranges = []
    for byte in missing:
        if byte < 0x80:
            ranges.append((byte, byte))
        elif byte < 0xC0:  # a continuation byte: in a quarter of all multibyte characters
            raise _Unsupported(f"the vocabulary has no token for byte {byte:#x}")
        elif 0xC2 <= byte <= 0xDF:
            ranges.append(((byte & 0x1F) << 6, ((byte & 0x1F) << 6) | 0x3F))
        elif 0xE0 <= byte <= 0xEF:
            ranges.append(((byte & 0x0F) << 12, ((byte & 0x0F) << 12) | 0xFFF))
        elif 0xF0 <= byte <= 0xF4:
            start = (byte & 0x07) << 18
            ranges.append((start, min(start | 0x3FFFF, _LAST_CODE_POINT)))
        # 0xC0, 0xC1 and 0xF5..0xFF never occur in UTF-8
    return ranges


@lru_cache(maxsize=1)
def _unassigned() -> tuple[tuple[int, int], ...]:
    """Ranges of code points Python's tables leave unassigned (Cn) or that are surrogates (Cs):
    ~700 ranges, ~0.2 s to find once per process."""
    ranges = []
    start = None
    category = unicodedata.category
    for code_point in range(_LAST_CODE_POINT + 1):
        if category(chr(code_point)) in ("Cn", "Cs"):
            if start is None:
                start = code_point
        elif start is not None:
            ranges.append((start, code_point - 1))
            start = None
    if start is not None:
        ranges.append((start, _LAST_CODE_POINT))
    return tuple(ranges)


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _char_class(ranges: list[tuple[int, int]]) -> str:
    parts = []
    for start, end in ranges:
        first = re.escape(chr(start))
        parts.append(first if start == end else f"{first}-{re.escape(chr(end))}")
    return "".join(parts)
