"""The blocking half of the local backend: one llama.cpp model, prompt building and the token
loop (stop sequences, max_tokens, temperature, cancellation, exact token counts).

Everything here runs on the backend's single worker thread; nothing here is async.
"""

from __future__ import annotations

import codecs
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import BadRequestError
from core.types import Message, ModelRequest, ModelResult
from deployments.suggestions.tokenizer import default_gguf_path

if TYPE_CHECKING:  # llama_cpp is the optional `model` extra; imported when a model loads
    from llama_cpp import Llama

    from core.settings import LocalModelSettings

logger = logging.getLogger("aigw.local_model")

DEFAULT_TEMPERATURE = 0.2
DEFAULT_TOP_P = 0.95
DEFAULT_TOP_K = 40
MAX_STOP_SEQUENCES = 16


@dataclass(frozen=True, slots=True)
class FimTokens:
    prefix: int
    suffix: int
    middle: int


def default_threads() -> int:
    """llama-cpp-python's default generation threads: half the machine's CPUs."""
    return max((os.cpu_count() or 2) // 2, 1)


def resolve_path(settings: LocalModelSettings) -> Path:
    return Path(settings.path).expanduser() if settings.path else default_gguf_path()


def longest_partial_stop(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters of `text` could still grow into a stop sequence."""
    held = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), held, -1):
            if text.endswith(stop[:k]):
                held = k
                break
    return held


class LlamaEngine:
    """One loaded GGUF model. Not thread-safe: the caller serialises calls."""

    def __init__(self, llama: Llama, path: Path, settings: LocalModelSettings) -> None:
        self.llama = llama
        self.path = path
        self.settings = settings
        self.n_ctx = int(llama.n_ctx())
        self.fim = self._fim_tokens()
        self._chat = self._chat_formatter()

    @classmethod
    def load(cls, settings: LocalModelSettings) -> LlamaEngine:
        from llama_cpp import Llama

        path = resolve_path(settings)
        if not path.is_file():
            raise FileNotFoundError(f"GGUF file not found: {path}")
        size_mb = path.stat().st_size / 1e6
        logger.info("local model: loading %s (%.0f MB)", path, size_mb)
        started = time.perf_counter()
        kwargs: dict[str, Any] = {
            "model_path": str(path),
            "n_ctx": settings.context_length,
            "n_batch": min(settings.batch_size, settings.context_length),
            "seed": settings.seed if settings.seed >= 0 else 0xFFFFFFFF,
            "verbose": False,
        }
        # The same count for prompt evaluation as for generation, as llama.cpp itself defaults
        # to. llama-cpp-python's default evaluates prompts on every core, and its threads wait
        # for each other at each step: beside Ray, HAProxy and the ingress on the same cores,
        # one descheduled thread stalls the rest. Measured on 2 cores with other work running:
        # a new 14-token prompt's first token p50 3,165 ms with 2 threads, 127 ms with 1.
        threads = settings.threads or default_threads()
        kwargs["n_threads"] = threads
        kwargs["n_threads_batch"] = threads
        llama = Llama(**kwargs)
        engine = cls(llama, path, settings)
        logger.info(
            "local model: weights loaded in %.2fs (context %d, vocabulary %d, fill-in-the-middle "
            "%s, chat template %s); warming up",
            time.perf_counter() - started,
            engine.n_ctx,
            llama.n_vocab(),
            "yes" if engine.fim else "no (prefix-only)",
            "from GGUF" if engine._chat else "plain",
        )
        warm = time.perf_counter()
        engine.run(ModelRequest.model_construct(**_WARMUP), threading.Event(), lambda _: None)
        logger.info(
            "local model: ready in %.2fs (warm-up %.2fs)",
            time.perf_counter() - started,
            time.perf_counter() - warm,
        )
        return engine

    # -- prompt building ---------------------------------------------------------------------

    def _fim_tokens(self) -> FimTokens | None:
        model = self.llama._model
        ids = (model.token_prefix(), model.token_suffix(), model.token_middle())
        return FimTokens(*ids) if all(i >= 0 for i in ids) else None

    def _chat_formatter(self) -> Callable[..., Any] | None:
        template = self.llama.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def piece(token_id: int) -> str:
            if token_id < 0:
                return ""
            return self.llama._model.token_get_text(token_id)

        return Jinja2ChatFormatter(
            template=template,
            eos_token=piece(self.llama.token_eos()),
            bos_token=piece(self.llama.token_bos()),
        )

    def tokenize(self, text: str, *, bos: bool = False, special: bool = False) -> list[int]:
        if not text:
            return []
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=bos, special=special))

    def prompt(self, request: ModelRequest, max_tokens: int) -> tuple[list[int], list[str]]:
        """Prompt tokens that fit the context with room for `max_tokens`, and extra stops."""
        budget = self.n_ctx - max_tokens
        if request.kind == "chat":
            tokens, stops = self._chat_prompt(request.messages)
            if len(tokens) > budget:
                raise BadRequestError(
                    f"prompt is {len(tokens)} tokens; the local model's context allows "
                    f"{budget} with {max_tokens} to generate"
                )
            return tokens, stops
        model = self.llama._model
        bos = [model.token_bos()] if model.add_bos_token() and model.token_bos() >= 0 else []
        prefix = self.tokenize(request.prefix)
        if self.fim and request.suffix:
            suffix = self.tokenize(request.suffix)
            room = budget - len(bos) - 3
            if len(prefix) + len(suffix) > room:  # keep the text nearest the cursor
                suffix = suffix[: min(len(suffix), max(room - len(prefix), room // 8))]
                keep = room - len(suffix)
                prefix = prefix[len(prefix) - keep :] if keep > 0 else []
            f = self.fim
            return [*bos, f.prefix, *prefix, f.suffix, *suffix, f.middle], []
        room = budget - len(bos)
        prefix = prefix[len(prefix) - room :] if len(prefix) > room else prefix
        tokens = [*bos, *prefix]
        if not tokens:  # an empty prompt: start from a newline so there is something to read
            tokens = self.tokenize("\n")
        return tokens, []

    def _chat_prompt(self, messages: list[Message]) -> tuple[list[int], list[str]]:
        if not messages:
            raise BadRequestError("a chat request needs at least one message")
        dicts = [{"role": m.role, "content": m.content} for m in messages]
        if self._chat is None:
            text = "".join(f"{m.role.capitalize()}: {m.content}\n" for m in messages)
            return self.tokenize(text + "Assistant:", bos=True), ["\nUser:"]
        formatted = self._chat(messages=dicts)
        stops = formatted.stop if isinstance(formatted.stop, list) else [formatted.stop]
        # The template's own control tokens (<|im_start|>...) are parsed as such.
        tokens = self.tokenize(formatted.prompt, bos=not formatted.added_special, special=True)
        return tokens, [s for s in stops if s]

    # -- generation ----------------------------------------------------------------------------

    def run(
        self, request: ModelRequest, cancel: threading.Event, emit: Callable[[str], None]
    ) -> ModelResult:
        """Generate, calling `emit` with each new piece of text; stops early when `cancel` is set.

        Text that might be the start of a stop sequence is held back until it is known not to be.
        """
        max_tokens = request.max_tokens or self.settings.max_tokens
        max_tokens = max(1, min(max_tokens, self.n_ctx // 2))
        tokens, extra_stops = self.prompt(request, max_tokens)
        stops = [s for s in [*request.stop, *extra_stops] if s][:MAX_STOP_SEQUENCES]
        temperature = DEFAULT_TEMPERATURE if request.temperature is None else request.temperature
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        from llama_cpp import llama_vocab_is_eog

        vocab = self.llama._model.vocab
        text, emitted, produced, finish = "", 0, 0, "length"
        cut: int | None = None
        generator = self.llama.generate(
            tokens,
            temp=max(0.0, temperature),
            top_p=DEFAULT_TOP_P if request.top_p is None else request.top_p,
            top_k=DEFAULT_TOP_K if request.top_k is None else request.top_k,
            repeat_penalty=self.settings.repeat_penalty,
            reset=True,
        )
        try:
            for token in generator:
                if cancel.is_set():
                    finish = "cancelled"
                    break
                if llama_vocab_is_eog(vocab, token):
                    finish = "stop"
                    break
                produced += 1
                text += decoder.decode(self.llama.detokenize([token]))
                cut = _first_stop(text, stops, max(0, emitted - _longest(stops)))
                if cut is not None:
                    text, finish = text[:cut], "stop"
                    break
                safe = len(text) - longest_partial_stop(text, stops)
                if safe > emitted:
                    emit(text[emitted:safe])
                    emitted = safe
                if produced >= max_tokens or len(tokens) + produced >= self.n_ctx:
                    break
        finally:
            generator.close()
        if cut is None:  # flush a trailing partial character (as U+FFFD: it is really there)
            text += decoder.decode(b"", final=True)
        if len(text) > emitted and finish != "cancelled":
            emit(text[emitted:])
        return ModelResult(
            text=text, input_tokens=len(tokens), output_tokens=produced, finish_reason=finish
        )


def _longest(stops: Sequence[str]) -> int:
    return max((len(s) for s in stops), default=0)


def _first_stop(text: str, stops: Sequence[str], start: int) -> int | None:
    hits = [i for i in (text.find(s, start) for s in stops) if i >= 0]
    return min(hits) if hits else None


_WARMUP: dict[str, Any] = {
    "target": None,
    "kind": "completion",
    "prefix": "def",
    "suffix": "",
    "messages": [],
    "stop": [],
    "max_tokens": 1,
    "temperature": 0.0,
    "top_p": None,
    "top_k": None,
}
