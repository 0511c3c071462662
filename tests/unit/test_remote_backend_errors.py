"""What a backend call through a DeploymentHandle raises: the replica's own error, unwrapped;
a lost replica (died, unreachable, back-pressure) as the contract's 503; a cancel as is."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ray.exceptions import ActorDiedError, RayTaskError
from ray.serve.exceptions import BackPressureError, RequestCancelledError

from core.errors import ModelRateLimited, ModelUnavailable
from core.types import Chunk, ModelRequest, ModelTarget
from deployments.handles import RemoteBackend

REQUEST = ModelRequest(target=ModelTarget(backend="anthropic", engine="anthropic", name="c"))


class FailingMethod:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    async def remote(self, *args: Any) -> Any:
        raise self.exc


class FailingStream:
    """What `handle.options(stream=True).stream.remote()` returns: an async iterator."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        self.cancelled = False

    def remote(self, *args: Any) -> FailingStream:
        return self

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Chunk]:
        yield Chunk(text="partial")
        raise self.exc

    def cancel(self) -> None:
        self.cancelled = True


class FakeHandle:
    def __init__(self, exc: BaseException) -> None:
        self.generate = FailingMethod(exc)
        self.stream = FailingStream(exc)

    def options(self, stream: bool) -> FakeHandle:
        return self


def task_error(cause: BaseException) -> RayTaskError:
    return RayTaskError("generate", "traceback", cause)


LOST = [ActorDiedError(), BackPressureError(num_queued_requests=9, max_queued_requests=8)]


@pytest.mark.parametrize("exc", LOST, ids=lambda e: type(e).__name__)
async def test_a_lost_replica_is_the_contracts_503(exc: BaseException) -> None:
    backend = RemoteBackend(FakeHandle(exc))
    with pytest.raises(ModelUnavailable) as raised:
        await backend.generate(REQUEST)
    assert raised.value.status_code == 503
    with pytest.raises(ModelUnavailable):
        async for _ in backend.stream(REQUEST):
            pass


async def test_the_replicas_own_error_comes_out_unwrapped() -> None:
    backend = RemoteBackend(FakeHandle(task_error(ModelRateLimited("slow down", "7"))))
    with pytest.raises(ModelRateLimited) as raised:
        await backend.generate(REQUEST)
    assert raised.value.retry_after == "7"
    with pytest.raises(ModelRateLimited):
        async for _ in backend.stream(REQUEST):
            pass


async def test_a_cancelled_request_stays_a_cancel() -> None:
    backend = RemoteBackend(FakeHandle(RequestCancelledError("r-1")))
    with pytest.raises(RequestCancelledError):
        await backend.generate(REQUEST)


class Unplaced:
    """A DeploymentResponse(Generator) that Serve never hands to a replica: what a call to a
    deployment whose only node was lost looks like until a replacement replica starts."""

    def __init__(self) -> None:
        self.cancelled = False

    def remote(self, *args: Any) -> Unplaced:
        return self

    async def _fetch_future_result_async(self) -> None:
        await asyncio.Event().wait()

    def __await__(self) -> Any:
        return self._fetch_future_result_async().__await__()

    def __aiter__(self) -> Unplaced:
        return self

    async def __anext__(self) -> Chunk:
        await self._fetch_future_result_async()
        raise StopAsyncIteration

    def cancel(self) -> None:
        self.cancelled = True


class UnplacedHandle:
    def __init__(self) -> None:
        self.generate = self.stream = Unplaced()

    def options(self, stream: bool) -> UnplacedHandle:
        return self


async def test_a_backend_without_replicas_is_a_quick_503_not_a_hang() -> None:
    handle = UnplacedHandle()
    backend = RemoteBackend(handle, replica_wait_s=0.05)
    with pytest.raises(ModelUnavailable) as raised:
        await asyncio.wait_for(backend.generate(REQUEST), 5)
    assert raised.value.status_code == 503
    assert handle.generate.cancelled  # Serve drops the queued call
    with pytest.raises(ModelUnavailable):
        async for _ in backend.stream(REQUEST):
            pass
