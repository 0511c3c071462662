"""Adapters that give a remote deployment (via DeploymentHandle) and an in-process plain class
the same async interface, so the ingress does not care where a stage runs (DESIGN.md rule 5).

They only translate calls: what a replica raised comes out as itself, never wrapped in Ray's
RayTaskError, so the ingress maps our error types once whatever the placement."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from ray.exceptions import RayError, RayTaskError, TaskCancelledError
from ray.serve.exceptions import RayServeException, RequestCancelledError

from core.errors import ModelUnavailable
from core.settings import AuthServiceSettings
from core.types import (
    AssembledPrompt,
    AssembledSuggestion,
    Chunk,
    FinishedSuggestion,
    Identity,
    KeySetSnapshot,
    ModelRequest,
    ModelResult,
    ModelTarget,
    PromptCall,
    PublicJwk,
    SuggestionInput,
    UserAccessToken,
    UserTokenGrant,
)
from deployments.authn.authenticator import Authenticator
from deployments.authn.store import ingress_copy


def unwrap(exc: BaseException) -> BaseException:
    """The exception a replica raised, without Ray's RayTaskError wrapper."""
    while isinstance(exc, RayTaskError) and isinstance(exc.cause, BaseException):
        exc = exc.cause
    return exc


async def call(method: Any, *args: Any) -> Any:
    """`await method.remote(*args)` on a handle, raising what the replica raised."""
    try:
        return await method.remote(*args)
    except RayTaskError as exc:
        raise unwrap(exc) from None


def replica_lost(exc: BaseException) -> bool:
    """Ray or Serve could not run the call (replica died or unreachable, back-pressure), as
    opposed to the replica raising, or the caller cancelling."""
    if isinstance(exc, RayTaskError | TaskCancelledError | RequestCancelledError):
        return False
    return isinstance(exc, RayError | RayServeException)


def unavailable(exc: BaseException) -> ModelUnavailable:
    return ModelUnavailable(f"backend replica unavailable: {type(exc).__name__}")


async def assigned(response: Any, timeout_s: float) -> None:
    """Wait at most `timeout_s` for Serve to hand the call behind `response` (a
    DeploymentResponse or DeploymentResponseGenerator) to a replica; cancel it past that."""
    fetch = getattr(response, "_fetch_future_result_async", None)
    if fetch is None or timeout_s <= 0:
        return
    try:
        await asyncio.wait_for(fetch(), timeout_s)
    except TimeoutError:
        response.cancel()
        raise ModelUnavailable(f"no backend replica took the call in {timeout_s:g}s") from None


class BackendClient(Protocol):
    async def check(self) -> bool: ...
    async def generate(self, request: ModelRequest) -> ModelResult: ...
    def stream(self, request: ModelRequest) -> AsyncIterator[Chunk]: ...


class RemoteBackend:
    def __init__(self, handle: Any, replica_wait_s: float = 0.0) -> None:
        self._handle = handle
        self._streaming = handle.options(stream=True)
        self._replica_wait_s = replica_wait_s

    async def check(self) -> bool:
        return bool(await call(self._handle.check))

    async def generate(self, request: ModelRequest) -> ModelResult:
        response = self._handle.generate.remote(request)
        try:
            await assigned(response, self._replica_wait_s)
            result: ModelResult = await response
        except RayTaskError as exc:
            raise unwrap(exc) from None
        except Exception as exc:
            if replica_lost(exc):
                raise unavailable(exc) from None
            raise
        return result

    async def stream(self, request: ModelRequest) -> AsyncIterator[Chunk]:
        responses = self._streaming.stream.remote(request)
        finished = False
        try:
            await assigned(responses, self._replica_wait_s)
            async for chunk in responses:
                yield chunk
            finished = True
        except RayTaskError as exc:
            finished = True
            raise unwrap(exc) from None
        except Exception as exc:
            finished = True
            if replica_lost(exc):
                raise unavailable(exc) from None
            raise
        finally:
            if not finished:  # the client went away: stop the model, don't drain it
                responses.cancel()


class AuthClient(Protocol):
    async def authenticate(self, headers: Mapping[str, str]) -> Identity: ...
    async def mint_user_token(self, grant: UserTokenGrant) -> UserAccessToken: ...


class RemoteKeySource:
    """The Auth deployment as a key source: asked only for an unknown kid (or when the
    ingress's copy is older than its TTL)."""

    name = "auth"

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    async def fetch(self, kid: str | None) -> list[PublicJwk]:
        snapshot: KeySetSnapshot = await call(self._handle.key_set, kid)
        return list(snapshot.keys)


class RemoteAuth:
    """Auth as its own deployment: tokens are still verified here, in the ingress replica,
    with the key set fetched from Auth, so a known key costs no hop (DESIGN.md rule 5)."""

    def __init__(self, handle: Any, settings: AuthServiceSettings) -> None:
        self._handle = handle
        auth = settings.auth
        store = ingress_copy(
            RemoteKeySource(handle), auth.jwks_cache_ttl_s, auth.jwks_refresh_interval_s
        )
        self.authenticator = Authenticator(settings, store)

    async def authenticate(self, headers: Mapping[str, str]) -> Identity:
        return await self.authenticator.authenticate(headers)

    async def mint_user_token(self, grant: UserTokenGrant) -> UserAccessToken:
        token: UserAccessToken = await call(self._handle.mint_user_token, grant)
        return token


class AssemblerClient(Protocol):
    async def assemble_suggestion(
        self, inp: SuggestionInput, target: ModelTarget
    ) -> AssembledSuggestion: ...
    async def finish_suggestion(
        self, inp: SuggestionInput, assembled: AssembledSuggestion, result: ModelResult
    ) -> FinishedSuggestion: ...
    async def assemble_prompt(self, call: PromptCall, identity: Identity) -> AssembledPrompt: ...
    async def directory_structure(self) -> dict[str, Any]: ...


class RemoteAssembler:
    def __init__(self, handle: Any) -> None:
        self._handle = handle

    async def assemble_suggestion(
        self, inp: SuggestionInput, target: ModelTarget
    ) -> AssembledSuggestion:
        result: AssembledSuggestion = await call(self._handle.assemble_suggestion, inp, target)
        return result

    async def finish_suggestion(
        self, inp: SuggestionInput, assembled: AssembledSuggestion, result: ModelResult
    ) -> FinishedSuggestion:
        finished: FinishedSuggestion = await call(
            self._handle.finish_suggestion, inp, assembled, result
        )
        return finished

    async def assemble_prompt(self, prompt: PromptCall, identity: Identity) -> AssembledPrompt:
        assembled: AssembledPrompt = await call(self._handle.assemble_prompt, prompt, identity)
        return assembled

    async def directory_structure(self) -> dict[str, Any]:
        structure: dict[str, Any] = await call(self._handle.directory_structure)
        return structure
