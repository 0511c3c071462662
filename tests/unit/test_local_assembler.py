"""The in-ingress assembler: small inputs inline, big ones on a worker thread."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from core.settings import PromptAssemblerSettings
from core.types import ContextSnippet, ModelTarget, SuggestionInput
from deployments.local_assembler import INLINE_ASSEMBLY_MAX_CHARS, LocalAssembler, input_chars
from deployments.prompt_assembler import PromptAssembler

REQUEST = contextvars.ContextVar("request", default="-")
TARGET = ModelTarget(backend="mock", engine="mock", name="mock")


def suggestion(above: str, context: str = "") -> SuggestionInput:
    return SuggestionInput(
        feature="code_completions",
        file_name="a.py",
        content_above_cursor=above,
        content_below_cursor="\nprint(1)\n",
        context=[ContextSnippet(type="file", name="b.py", content=context)] if context else [],
    )


class Recorder:
    """Notes which thread assembled and what request context it saw."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.settings = PromptAssemblerSettings()

    def assemble_suggestion(self, inp: SuggestionInput, target: ModelTarget) -> str:
        self.seen.append((threading.current_thread().name, REQUEST.get()))
        return "assembled"


async def assemble(assembler: LocalAssembler, inp: SuggestionInput) -> object:
    REQUEST.set("req-42")
    return await assembler.assemble_suggestion(inp, TARGET)


def test_input_size_counts_every_text_assembly_tokenizes() -> None:
    assert input_chars(suggestion("abc", context="12345")) == 3 + len("\nprint(1)\n") + 5


def test_small_input_is_assembled_inline_and_big_one_on_a_worker_with_its_context() -> None:
    recorder = Recorder()
    assembler = LocalAssembler(recorder)
    assert asyncio.run(assemble(assembler, suggestion("x = 1\n"))) == "assembled"
    big = suggestion("x = 1\n" * (INLINE_ASSEMBLY_MAX_CHARS // 6 + 1))
    assert asyncio.run(assemble(assembler, big)) == "assembled"
    (inline, inline_ctx), (worker, worker_ctx) = recorder.seen
    assert inline == threading.main_thread().name and inline_ctx == "req-42"
    assert worker.startswith("assemble") and worker_ctx == "req-42"


def test_the_event_loop_runs_while_a_big_file_is_assembled() -> None:
    """The real assembler and tokenizer: a ticker keeps ticking during a big assembly."""
    assembler = LocalAssembler(PromptAssembler())
    source = "def f(x):\n    return [i * x for i in range(10)]  # ünïcode\n" * 4000

    async def main() -> tuple[int, object]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.01)
        before = ticks
        result = await assembler.assemble_suggestion(suggestion(source), TARGET)
        task.cancel()
        return ticks - before, result

    ticks, result = asyncio.run(main())
    inline = PromptAssembler().assemble_suggestion(suggestion(source), TARGET)
    assert result == inline  # same prompt as assembling inline
    # An inline (blocking) assembly lets the ticker run 0 times however loaded the machine; the
    # threaded one takes 7-30 ms here, but a loaded runner may give the loop a single turn.
    assert ticks >= 1, "the event loop was blocked during the assembly"


@pytest.mark.parametrize("size", [0, INLINE_ASSEMBLY_MAX_CHARS])
def test_inputs_up_to_the_limit_stay_inline(size: int) -> None:
    recorder = Recorder()
    inp = suggestion("a" * (size - len("\nprint(1)\n")) if size else "")
    asyncio.run(assemble(LocalAssembler(recorder), inp))
    assert recorder.seen[0][0] == threading.main_thread().name


class Gate(Recorder):
    """Big assemblies block on a gate; counts how many run at once."""

    def __init__(self, heavy: int) -> None:
        super().__init__()
        self.settings = PromptAssemblerSettings(heavy_assemblies=heavy)
        self.gate = threading.Event()
        self.lock = threading.Lock()
        self.running = self.most = 0

    def assemble_suggestion(self, inp: SuggestionInput, target: ModelTarget) -> str:
        if input_chars(inp) <= INLINE_ASSEMBLY_MAX_CHARS:
            return "small"
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.gate.wait(5)
        with self.lock:
            self.running -= 1
        return "big"


@pytest.mark.parametrize("heavy", [1, 3])
def test_heavy_assemblies_are_capped_and_small_ones_do_not_wait_behind_them(heavy: int) -> None:
    gate = Gate(heavy)
    assembler = LocalAssembler(gate)
    big = suggestion("x" * (INLINE_ASSEMBLY_MAX_CHARS + 1))

    async def main() -> tuple[list[object], object]:
        heavy = [asyncio.create_task(assembler.assemble_suggestion(big, TARGET)) for _ in range(6)]
        await asyncio.sleep(0.2)
        # Six big ones are in: `heavy` assemble, the rest queue; a small one is answered.
        small = await asyncio.wait_for(assembler.assemble_suggestion(suggestion("y"), TARGET), 1)
        gate.gate.set()
        return list(await asyncio.gather(*heavy)), small

    results, small = asyncio.run(main())
    assert small == "small" and results == ["big"] * 6
    assert gate.most == heavy
