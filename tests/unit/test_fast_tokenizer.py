"""The fast encoder (Hugging Face `tokenizers`) gives llama.cpp's ids, id for id.

llama.cpp (`fast=False`) is the reference: the embedded model's own view of the text. A count
that differs by one token would move a truncation cut, so any differing id fails.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import random
import struct
import unicodedata
from pathlib import Path

import pytest

llama_cpp = pytest.importorskip("llama_cpp")
pytest.importorskip("tokenizers")

from deployments.suggestions import fast_tokenizer  # noqa: E402
from deployments.suggestions.fast_tokenizer import (  # noqa: E402
    MAX_CHARS,
    FastEncoder,
    build_fast_encoder,
)
from deployments.suggestions.tokenizer import (  # noqa: E402
    Tokenizer,
    default_gguf_path,
    default_tokenizer,
)


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return default_tokenizer()


@pytest.fixture(scope="module")
def ref() -> Tokenizer:
    return Tokenizer.from_gguf(default_gguf_path(), fast=False)


@pytest.fixture(scope="module")
def fast(tok: Tokenizer) -> FastEncoder:
    assert tok._fast is not None, "the shipped SmolLM2 GGUF must get the fast path"
    return tok._fast


def _assert_same(fast: FastEncoder, ref: Tokenizer, texts: list[str]) -> int:
    """Every text the fast encoder takes gets llama.cpp's ids; returns how many it took."""
    taken = 0
    for text in texts:
        ids = fast.encode(text)
        if ids is not None:
            taken += 1
            assert ids == ref.encode(text), f"ids differ for {text[:200]!r}"
    return taken


def test_the_shipped_model_counts_on_the_fast_path(tok: Tokenizer, ref: Tokenizer) -> None:
    assert tok.fast and not ref.fast
    assert tok.encode("def hello(): pass") == ref.encode("def hello(): pass")
    assert tok._fast is not None and tok._fast.encode("def hello(): pass") is not None


def test_python_sources_at_random_cut_points(fast: FastEncoder, ref: Tokenizer) -> None:
    files = sorted(Path(asyncio.__file__).parent.glob("*.py"))
    files += sorted(Path(json.__file__).parent.glob("*.py"))
    text = "".join(path.read_text(encoding="utf-8") for path in files)
    rng = random.Random(18)
    chunks, pos = [], 0
    while pos < len(text):
        size = rng.choice((1, 7, 60, 400, 1500, MAX_CHARS))
        chunks.append(text[pos : pos + rng.randint(1, size)])
        pos += len(chunks[-1])
    assert _assert_same(fast, ref, chunks) == len(chunks)


def _assigned(predicate) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        chr(cp)
        for cp in range(0x110000)
        if unicodedata.category(chr(cp)) not in ("Cn", "Cs") and predicate(chr(cp))
    ]


def test_random_unicode_digits_whitespace_and_special_token_text(
    fast: FastEncoder, ref: Tokenizer
) -> None:
    rng = random.Random(4)
    assigned = _assigned(lambda ch: True)
    digits = _assigned(lambda ch: unicodedata.category(ch) in ("Nd", "Nl", "No"))
    spaces = [*_assigned(str.isspace), "\u200b", "\u2060", "\ufeff"]
    bits = ["'s", "'ll", "'RE", "'", " ", "  ", "\n", "\r\n", "\t", "<|im_start|>", "<|endoftext|>"]
    bits += ["😀", "👍🏽", "🇩🇪", "e\u0301", "名前", "१२३", "٣٤٥", "Ⅻ", "½", "\U0001d7d9\U0001d7da"]
    texts = []
    for _ in range(4000):
        parts = []
        for _ in range(rng.randint(1, 30)):
            pick = rng.random()
            if pick < 0.25:
                parts.append(rng.choice(assigned))
            elif pick < 0.45:
                parts.append(rng.choice(digits))
            elif pick < 0.6:
                parts.append(rng.choice(spaces) * rng.randint(1, 40))
            elif pick < 0.8:
                parts.append(rng.choice(bits))
            else:
                parts.append(chr(rng.randint(32, 126)))
        texts.append("".join(parts))
    # The few texts with a character whose byte has no token go to llama.cpp (see below).
    assert _assert_same(fast, ref, texts) > 0.9 * len(texts)


def test_text_llama_cpp_handles_differently_goes_to_llama_cpp(
    tok: Tokenizer, fast: FastEncoder, ref: Tokenizer
) -> None:
    differing = [
        "|\x1d'",  # no token for byte 0x1d: llama.cpp keeps the gap, tokenizers would merge "|'"
        "\U00042019\U00042019",  # no token for the UTF-8 lead byte 0xf1
        "😙\U00042000",
        "a\u0378b",  # unassigned in Python's tables
        "x" * (MAX_CHARS + 1),  # long: llama.cpp releases the GIL, tokenizers' encode does not
    ]
    for text in differing:
        assert fast.encode(text) is None
        assert tok.encode(text) == ref.encode(text)
    with pytest.raises(UnicodeEncodeError):  # as before: a lone surrogate cannot be tokenized
        tok.encode("a\ud800")


def test_decode_and_truncation_keep_their_contract(tok: Tokenizer, ref: Tokenizer) -> None:
    text = "def grüß(名前):\n    return '😀' * 12345  # <|im_start|>\n" * 3
    ids = tok.encode(text)
    assert ids == ref.encode(text) and tok.decode(ids) == text
    for budget in (1, 5, 17, 40):
        assert tok.truncate_left(text, budget) == ref.truncate_left(text, budget)
        assert tok.truncate_right(text, budget) == ref.truncate_right(text, budget)


def _llama_flags() -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    lib = ctypes.CDLL(str(Path(llama_cpp.__file__).parent / "lib" / "libllama.so"))
    try:
        flags = lib._Z26unicode_cpt_flags_from_cptj  # unicode_cpt_flags_from_cpt(uint32_t)
    except AttributeError:
        pytest.skip("this llama.cpp build does not export unicode_cpt_flags_from_cpt")
    flags.argtypes, flags.restype = [ctypes.c_uint32], ctypes.c_uint16
    return flags


def test_every_code_point_the_fast_path_takes_is_classified_alike(fast: FastEncoder) -> None:
    """Pre-tokenizing splits text by class (letter, digit, whitespace, other): llama.cpp's own
    tables against Oniguruma's (the byte-level regex) and Rust's (`Digits`), for every code
    point the fast encoder accepts."""
    from tokenizers import Regex, pre_tokenizers

    flags = _llama_flags()
    accepted = [cp for cp in range(0x110000) if not fast._unsafe(cp)]

    def isolated(splitter, sep: str) -> set[int]:  # type: ignore[no-untyped-def]
        text = "".join(sep + chr(cp) for cp in accepted)
        return {ord(p) for p, _ in splitter.pre_tokenize_str(text) if len(p) == 1 and p != sep}

    def split(pattern: str):  # type: ignore[no-untyped-def]
        return pre_tokenizers.Split(Regex(pattern), behavior="isolated")

    letters = isolated(split(r"\p{L}"), "!")
    numbers = isolated(split(r"\p{N}"), "a")
    spaces = isolated(split(r"\s"), "a")
    digits = isolated(pre_tokenizers.Digits(individual_digits=True), "a")
    differ = []
    for cp in accepted:
        bits = flags(cp)  # 0x1 undefined, 0x2 number, 0x4 letter, 0x100 whitespace
        ours = (bool(bits & 0x100), bool(bits & 0x4), bool(bits & 0x2), bool(bits & 0x2))
        theirs = (cp in spaces, cp in letters, cp in numbers, cp in digits)
        if bits & 0x1 or ours != theirs:
            differ.append(hex(cp))
    assert not differ


def _gguf(path: Path, meta: dict[str, str | list[str]]) -> Path:
    """A GGUF file holding only metadata (strings and string arrays)."""

    def string(value: str) -> bytes:
        raw = value.encode()
        return struct.pack("<Q", len(raw)) + raw

    body = b""
    for key, value in meta.items():
        body += string(key)
        if isinstance(value, str):
            body += struct.pack("<I", 8) + string(value)
        else:
            body += struct.pack("<IIQ", 9, 8, len(value)) + b"".join(map(string, value))
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(meta)) + body)
    return path


def test_another_pre_tokenizer_stays_on_llama_cpp_with_a_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gguf = _gguf(
        tmp_path / "other.gguf",
        {
            "tokenizer.ggml.model": "gpt2",
            "tokenizer.ggml.pre": "llama-bpe",
            "tokenizer.ggml.tokens": ["a", "b"],
            "tokenizer.ggml.merges": ["a b"],
        },
    )
    with caplog.at_level(logging.INFO, logger=fast_tokenizer.__name__):
        assert build_fast_encoder(gguf, lambda text: []) is None
    assert "pre-tokenizer 'llama-bpe' not mapped" in caplog.text


def test_a_self_check_mismatch_keeps_llama_cpp(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=fast_tokenizer.__name__):
        assert build_fast_encoder(default_gguf_path(), lambda text: [0]) is None
    assert "differs on a self-check sample" in caplog.text
