"""The PromptAssembler in the ingress replica (the default placement, DESIGN.md rule 5), with
big inputs assembled off the event loop."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from core.types import (
    AssembledPrompt,
    AssembledSuggestion,
    FinishedSuggestion,
    Identity,
    ModelResult,
    ModelTarget,
    PromptCall,
    SuggestionInput,
)
from deployments.prompt_assembler import PromptAssembler

# Assembly tokenizes the file: microseconds for a few lines, milliseconds for a big file (20k
# characters: ~15 ms). llama.cpp releases the GIL while it tokenizes, so a big input is
# assembled on a worker thread: the event loop keeps answering other requests meanwhile, and the
# work can use another core. The pool's size (`AIGW_LIMITS__HEAVY_ASSEMBLIES`) caps the big
# assemblies running at once; the rest queue for a thread while small inputs are still
# assembled inline, so a burst of maximum-size bodies never stalls small completions.
INLINE_ASSEMBLY_MAX_CHARS = 8192


def input_chars(inp: SuggestionInput) -> int:
    """Characters assembly may have to tokenize."""
    size = len(inp.content_above_cursor) + len(inp.content_below_cursor)
    size += sum(len(item.content) for item in inp.context) + len(inp.raw_prompt or "")
    return size + sum(len(m.content) for m in inp.raw_messages or ())


class LocalAssembler:
    def __init__(self, assembler: PromptAssembler) -> None:
        self._assembler = assembler
        self._pool: ThreadPoolExecutor | None = None

    async def assemble_suggestion(
        self, inp: SuggestionInput, target: ModelTarget
    ) -> AssembledSuggestion:
        if input_chars(inp) <= INLINE_ASSEMBLY_MAX_CHARS:
            result: AssembledSuggestion = self._assembler.assemble_suggestion(inp, target)
            return result
        if self._pool is None:
            threads = self._assembler.settings.heavy_assemblies
            self._pool = ThreadPoolExecutor(threads, thread_name_prefix="assemble")
        context = contextvars.copy_context()  # the request's log context goes along
        work = functools.partial(context.run, self._assembler.assemble_suggestion, inp, target)
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    async def finish_suggestion(
        self, inp: SuggestionInput, assembled: AssembledSuggestion, result: ModelResult
    ) -> FinishedSuggestion:
        return self._assembler.finish_suggestion(inp, assembled, result)

    async def assemble_prompt(self, call: PromptCall, identity: Identity) -> AssembledPrompt:
        return self._assembler.assemble_prompt(call, identity)

    async def directory_structure(self) -> dict[str, Any]:
        return self._assembler.directory_structure()
