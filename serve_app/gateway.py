"""Gateway: what one ingress replica holds — auth, assembly, routing and backend clients —
whether each stage runs in-process or behind a DeploymentHandle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from core.errors import ModelError
from core.settings import Config
from core.types import (
    AssembledPrompt,
    AssembledSuggestion,
    Chunk,
    FinishedSuggestion,
    Identity,
    ModelRequest,
    ModelResult,
    ModelTarget,
    PromptCall,
    SuggestionInput,
    UserAccessToken,
    UserTokenGrant,
)
from deployments.handles import AssemblerClient, AuthClient, BackendClient
from routing.admission import Admission, InProcessStore, Subject, Ticket
from routing.catalogue import Catalogue
from routing.model_router import ModelRouter
from routing.resilience import route
from routing.resilience.engine import Resilience
from routing.selection import ModelSelection

logger = logging.getLogger("aigw.gateway")

READY_TIMEOUT_S = 2.0


class Gateway:
    def __init__(
        self,
        *,
        settings: Config,
        catalogue: Catalogue,
        auth: AuthClient,
        assembler: AssemblerClient,
        backends: Mapping[str, BackendClient],
        resilience: Resilience | None = None,
        admission: Admission | None = None,
    ) -> None:
        self._catalogue = catalogue  # final: built once by the app builder
        self.auth = auth
        self.assembler = assembler
        self.backends = dict(backends)
        self.router = ModelRouter(catalogue, self.backends, settings.custom_models.enabled)
        self.resilience = resilience if resilience is not None else Resilience()
        self.admission = admission or Admission(InProcessStore())
        self._tokenizer: Any = None

    async def admit(self, subject: Subject, request: ModelRequest, input_tokens: int) -> Ticket:
        """Admission control for one model call (its own step: the serving modules call it
        before `generate`/`stream` and settle the ticket when the request ends)."""
        ticket = await self.admission.admit(
            subject, lambda: input_tokens or self._count(request), request.max_tokens
        )
        backend = request.target.backend  # a saturated one queues by priority class
        mine = route.current()
        if mine is not None and not mine.starts_with(request.target):
            mine = None  # a call for another model than the one chosen has a route of its own
        targets = mine.candidates if mine is not None else ()
        ticket = await self.admission.queue_for(
            ticket, backend, subject, request.max_tokens, targets
        )
        if mine is not None:  # what follows the request to a fallback
            mine.place, mine.max_tokens = ticket.place, ticket.output_cap
        return ticket

    def _count(self, request: ModelRequest) -> int:
        """Input tokens of a call the assembler did not count (chat, registry prompts), by
        the ingress's tokenizer; only a token rule asks."""
        if self._tokenizer is None:
            from deployments.suggestions.token_counting import load_tokenizer

            self._tokenizer = load_tokenizer()
        text = request.prefix + request.suffix + "".join(m.content for m in request.messages)
        return int(self._tokenizer.count(text)) if text else 0

    async def authenticate(self, headers: Mapping[str, str]) -> Identity:
        return await self.auth.authenticate(headers)

    async def mint(self, grant: UserTokenGrant) -> UserAccessToken:
        """A user access token this gateway signs (`/v1/code/user_access_token`)."""
        return await self.auth.mint_user_token(grant)

    def serves_feature(self, feature: str) -> bool:
        return feature in self._catalogue.features

    def knows_model(self, identifier: str) -> bool:
        """Whether `identifier` names a GitLab model of the catalogue."""
        return self._catalogue.model(identifier) is not None

    def model_definitions(self) -> dict[str, Any]:
        """The catalogue as `/v1/models/definitions` lists it."""
        return self._catalogue.definitions()

    def choose(self, feature: str, selection: ModelSelection | None = None) -> ModelTarget:
        """The model that serves `feature` for what the request said about its model; the
        request's route (that model, then its fallbacks) is kept for `generate`/`stream`."""
        fallbacks = self.resilience.policy.model_fallbacks
        return route.begin(self.router.route(feature, selection, fallbacks)).first

    def served_target(self, chosen: ModelTarget) -> ModelTarget:
        """The model that really answered (a fallback's), else `chosen`."""
        current = route.current()
        if current is not None and current.served_target is not None:
            return current.served_target
        return chosen

    def served(self, assembled: AssembledSuggestion) -> AssembledSuggestion:
        """The suggestion's prompt as the model that answered had it (a fallback's own)."""
        current = route.current()
        extra = current.served_extra if current is not None else None
        return extra if isinstance(extra, AssembledSuggestion) else assembled

    def served_call(self, call: ModelRequest) -> ModelRequest:
        """The call as the model that answered had it (a fallback's own prompt), else `call`;
        known from a stream's first text on."""
        current = route.current()
        extra = current.served_extra if current is not None else None
        if isinstance(extra, (AssembledSuggestion, AssembledPrompt)):
            return extra.request
        return extra if isinstance(extra, ModelRequest) else call

    def on_fallback(self, chosen: ModelTarget, rebuild: route.Rebuild) -> None:
        """How the current request's call is made for a fallback of `chosen`: a model of
        another family gets a prompt of its own, and its own call parameters."""
        current = route.current()
        if current is not None and current.first is chosen and current.rebuild is None:
            current.rebuild = rebuild

    async def assemble(self, inp: SuggestionInput, target: ModelTarget) -> AssembledSuggestion:
        async def rebuild(other: ModelTarget) -> tuple[ModelRequest, AssembledSuggestion]:
            assembled = await self.assembler.assemble_suggestion(inp, other)
            return assembled.request, assembled

        self.on_fallback(target, rebuild)
        return await self.assembler.assemble_suggestion(inp, target)

    async def finish(
        self, inp: SuggestionInput, assembled: AssembledSuggestion, result: ModelResult
    ) -> FinishedSuggestion:
        """Post-process a non-streamed suggestion (in the PromptAssembler, wherever it runs)."""
        return await self.assembler.finish_suggestion(inp, assembled, result)

    async def assemble_prompt(self, call: PromptCall, identity: Identity) -> AssembledPrompt:
        return await self.assembler.assemble_prompt(call, identity)

    async def prompt_directory(self) -> dict[str, Any]:
        return await self.assembler.directory_structure()

    def _backend(self, request: ModelRequest) -> BackendClient:
        try:
            return self.backends[request.target.backend]
        except KeyError:
            raise ModelError(f"backend {request.target.backend!r} is not configured") from None

    # Backends raise our error types only (each maps its provider's, and its replica's loss,
    # itself), so these pass them through untouched: errors are mapped once, at the API layer.
    # The routing policy (routing/resilience) tries the request's route: retries, fallbacks,
    # breakers, deadlines, and a stream's resume after a cut.
    async def generate(self, request: ModelRequest) -> ModelResult:
        # The route the call really takes: a call made for another model than the one chosen
        # (mock mode answers a chat call with its chat mock) has a route of its own to report.
        used = self.resilience.route_of(request, route.current())
        try:
            return await self.resilience.generate(request, self._generate, used)
        finally:
            route.settle(used)

    async def _generate(self, request: ModelRequest) -> ModelResult:
        return await self._backend(request).generate(request)

    def stream(self, request: ModelRequest) -> AsyncIterator[Chunk]:
        """An async generator (the routing policy's), so that an unknown backend fails on the
        first chunk, inside the caller's stream handling, as a failing backend does. Its route
        is the request's current one, settled when the stream ends."""
        return self.resilience.stream(request, self._stream, route.current(), settle_route=True)

    def _stream(self, request: ModelRequest) -> AsyncIterator[Chunk]:
        return self._backend(request).stream(request)

    async def readiness(self) -> dict[str, bool]:
        """Ask every backend whether it can serve; a slow or failing one counts as not ready."""

        async def probe(name: str, backend: BackendClient) -> tuple[str, bool]:
            try:
                return name, bool(await asyncio.wait_for(backend.check(), READY_TIMEOUT_S))
            except Exception:
                logger.warning("readiness probe of backend %s failed", name, exc_info=True)
                return name, False

        results = await asyncio.gather(*(probe(n, b) for n, b in self.backends.items()))
        return dict(results)
