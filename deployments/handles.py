"""Adapters that give a remote deployment (via DeploymentHandle) and an in-process plain class
the same async interface, so the ingress does not care where a stage runs (DESIGN.md rule 5)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from ray.exceptions import RayTaskError

from deployments.types import (
    AssembledSuggestion,
    Chunk,
    Identity,
    ModelRequest,
    ModelResult,
    ModelTarget,
    SuggestionInput,
)


def unwrap(exc: BaseException) -> BaseException:
    """The exception a replica raised, without Ray's RayTaskError wrapper."""
    while isinstance(exc, RayTaskError) and isinstance(exc.cause, BaseException):
        exc = exc.cause
    return exc


class BackendClient(Protocol):
    async def check(self) -> bool: ...
    async def generate(self, request: ModelRequest) -> ModelResult: ...
    def stream(self, request: ModelRequest) -> AsyncIterator[Chunk]: ...


class RemoteBackend:
    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self._streaming = handle.options(stream=True)

    async def check(self) -> bool:
        try:
            return bool(await self._handle.check.remote())
        except RayTaskError as exc:
            raise unwrap(exc) from None

    async def generate(self, request: ModelRequest) -> ModelResult:
        try:
            result: ModelResult = await self._handle.generate.remote(request)
        except RayTaskError as exc:
            raise unwrap(exc) from None
        return result

    async def stream(self, request: ModelRequest) -> AsyncIterator[Chunk]:
        responses = self._streaming.stream.remote(request)
        finished = False
        try:
            async for chunk in responses:
                yield chunk
            finished = True
        except RayTaskError as exc:
            finished = True
            raise unwrap(exc) from None
        finally:
            if not finished:  # the client went away: stop the model, don't drain it
                responses.cancel()


class AuthClient(Protocol):
    async def authenticate(self, headers: Mapping[str, str]) -> Identity: ...


class RemoteAuth:
    def __init__(self, handle: Any) -> None:
        self._handle = handle

    async def authenticate(self, headers: Mapping[str, str]) -> Identity:
        try:
            identity: Identity = await self._handle.authenticate.remote(dict(headers))
        except RayTaskError as exc:
            raise unwrap(exc) from None
        return identity


class AssemblerClient(Protocol):
    async def assemble_suggestion(
        self, inp: SuggestionInput, target: ModelTarget
    ) -> AssembledSuggestion: ...


class LocalAssembler:
    def __init__(self, assembler: Any) -> None:
        self._assembler = assembler

    async def assemble_suggestion(
        self, inp: SuggestionInput, target: ModelTarget
    ) -> AssembledSuggestion:
        result: AssembledSuggestion = self._assembler.assemble_suggestion(inp, target)
        return result


class RemoteAssembler:
    def __init__(self, handle: Any) -> None:
        self._handle = handle

    async def assemble_suggestion(
        self, inp: SuggestionInput, target: ModelTarget
    ) -> AssembledSuggestion:
        try:
            result: AssembledSuggestion = await self._handle.assemble_suggestion.remote(inp, target)
        except RayTaskError as exc:
            raise unwrap(exc) from None
        return result
