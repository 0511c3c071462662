"""Adapters that give a remote deployment (via DeploymentHandle) and an in-process plain class
the same async interface, so the ingress does not care where a stage runs (DESIGN.md rule 5)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from ray.exceptions import RayTaskError

from core.settings import Config
from core.types import (
    AssembledSuggestion,
    Chunk,
    Identity,
    KeySetSnapshot,
    ModelRequest,
    ModelResult,
    ModelTarget,
    PublicJwk,
    SuggestionInput,
    UserAccessToken,
    UserTokenGrant,
)
from deployments.authn.authenticator import Authenticator
from deployments.authn.store import KeyStore


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
    async def mint_user_token(self, grant: UserTokenGrant) -> UserAccessToken: ...


# The ingress's copy of Auth's key set: refreshed from Auth at least this often, and asked
# again for an unknown kid at most once per interval (Auth rate-limits the issuers itself).
REMOTE_KEYS_TTL_S = 300.0
REMOTE_REFRESH_INTERVAL_S = 1.0


class RemoteKeySource:
    """The Auth deployment as the ingress's only key source: asked only for an unknown kid
    (or when the ingress's copy is older than its TTL)."""

    name = "auth"

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    async def fetch(self, kid: str | None) -> list[PublicJwk]:
        try:
            snapshot: KeySetSnapshot = await self._handle.key_set.remote(kid)
        except RayTaskError as exc:
            raise unwrap(exc) from None
        return list(snapshot.keys)


class RemoteAuth:
    """Auth as its own deployment: tokens are still verified here, in the ingress replica,
    with the key set fetched from Auth, so a known key costs no hop (DESIGN.md rule 5)."""

    def __init__(self, handle: Any, settings: Config) -> None:
        self._handle = handle
        store = KeyStore(
            [RemoteKeySource(handle)],
            ttl_s=min(REMOTE_KEYS_TTL_S, settings.auth.jwks_cache_ttl_s),
            min_interval_s=min(REMOTE_REFRESH_INTERVAL_S, settings.auth.jwks_refresh_interval_s),
        )
        self.authenticator = Authenticator(settings, store)

    async def authenticate(self, headers: Mapping[str, str]) -> Identity:
        return await self.authenticator.authenticate(headers)

    async def mint_user_token(self, grant: UserTokenGrant) -> UserAccessToken:
        try:
            token: UserAccessToken = await self._handle.mint_user_token.remote(grant)
        except RayTaskError as exc:
            raise unwrap(exc) from None
        return token


class AssemblerClient(Protocol):
    async def assemble_suggestion(
        self, inp: SuggestionInput, target: ModelTarget
    ) -> AssembledSuggestion: ...


# Assembly tokenizes the file: microseconds for a few lines, milliseconds for a big file (20k
# characters: ~15 ms). llama.cpp releases the GIL while it tokenizes, so a big input is
# assembled on a worker thread: the event loop keeps answering other requests meanwhile, and the
# work can use another core.
INLINE_ASSEMBLY_MAX_CHARS = 8192
ASSEMBLY_THREADS = 2


def input_chars(inp: SuggestionInput) -> int:
    """Characters assembly may have to tokenize."""
    size = len(inp.content_above_cursor) + len(inp.content_below_cursor)
    size += sum(len(item.content) for item in inp.context) + len(inp.raw_prompt or "")
    return size + sum(len(m.content) for m in inp.raw_messages or ())


class LocalAssembler:
    def __init__(self, assembler: Any) -> None:
        self._assembler = assembler
        self._pool: ThreadPoolExecutor | None = None

    async def assemble_suggestion(
        self, inp: SuggestionInput, target: ModelTarget
    ) -> AssembledSuggestion:
        if input_chars(inp) <= INLINE_ASSEMBLY_MAX_CHARS:
            result: AssembledSuggestion = self._assembler.assemble_suggestion(inp, target)
            return result
        if self._pool is None:
            self._pool = ThreadPoolExecutor(ASSEMBLY_THREADS, thread_name_prefix="assemble")
        context = contextvars.copy_context()  # the request's log context goes along
        work = functools.partial(context.run, self._assembler.assemble_suggestion, inp, target)
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)


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
