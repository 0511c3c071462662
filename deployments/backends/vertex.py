"""VertexBackend: models on Google Vertex AI, each through its publisher's endpoint.

- Gemini (`publishers/google`): Google's current SDK, `google-genai` in Vertex mode
  (`generateContent` / `streamGenerateContent?alt=sse`).
- Claude (`publishers/anthropic`): the `anthropic` SDK's Vertex client (`rawPredict` /
  `streamRawPredict`), sharing the Messages translation of AnthropicBackend.
- Codestral (`publishers/mistralai`): fill-in-the-middle over `rawPredict` /
  `streamRawPredict` with an authorised `httpx` client (Mistral's FIM body and answer).

Credentials: `AIGW_GOOGLE_CLOUD_PLATFORM__SERVICE_ACCOUNT_JSON_KEY` when set, else ADC.
`AIGW_VERTEX_TEXT_MODEL__ENDPOINT` names the host (tests point it at a local fake).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import google.auth
import httpx
import httpx2
from google import genai
from google.auth.credentials import Credentials
from google.auth.transport.requests import Request as AuthRequest
from google.genai import errors as genai_errors
from google.genai import types as genai_types
from google.oauth2 import service_account

from core.errors import GatewayError, ModelError, ModelTimeout, ModelUnavailable
from core.settings import VertexBackendSettings
from core.types import Chunk, ModelRequest, ModelResult
from deployments.backends import anthropic as claude
from deployments.backends.common import (
    Deadlines,
    event_hooks,
    from_status,
    guarded,
    max_tokens,
    stop_sequences,
    unexpected,
    usage_int,
    within,
)

logger = logging.getLogger("aigw.backends.vertex")

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
PROVIDER = "vertex-ai"
DEFAULT_MAX_TOKENS = 2048


def endpoint_url(endpoint: str) -> str:
    """`us-central1-aiplatform.googleapis.com` or a full URL, without a trailing slash."""
    url = endpoint if "://" in endpoint else f"https://{endpoint}"
    return url.rstrip("/")


def load_credentials(settings: VertexBackendSettings) -> Credentials:
    key = settings.service_account_json_key.get_secret_value()
    if key:
        info = json.loads(key)
        creds: Credentials = service_account.Credentials.from_service_account_info(
            info, scopes=SCOPES
        )
        return creds
    creds, _ = google.auth.default(scopes=SCOPES)
    return creds


def publisher_of(model: str) -> str:
    if model.startswith("claude"):
        return "anthropic"
    if model.startswith(("codestral", "mistral")):
        return "mistralai"
    return "google"


class VertexBackend:
    """Plain class; Ray serves it as the `VertexBackend` deployment."""

    def __init__(self, settings: VertexBackendSettings) -> None:
        self.timeouts = settings.timeouts
        self.answer_limits = settings.answer_limits
        self.project = settings.project
        self.location = settings.location
        self.base_url = endpoint_url(settings.endpoint)
        self.http = httpx.AsyncClient(base_url=self.base_url, event_hooks=event_hooks())
        self.ready = True
        try:
            self.credentials = load_credentials(settings)
        except Exception as exc:  # no ADC on this host: serve 503s and fail readiness, not crash
            logger.error("Vertex AI credentials unavailable: %s", type(exc).__name__)
            self.ready = False
            return
        self._token_lock = asyncio.Lock()
        self.gemini = genai.Client(
            vertexai=True,
            project=self.project,
            location=self.location,
            credentials=self.credentials,
            http_options=genai_types.HttpOptions(
                base_url=self.base_url + "/",
                api_version="v1",
                # httpx2 rather than the SDK's default aiohttp session, which takes no event
                # hooks: they tell `within` when a non-streamed answer has started.
                httpx_async_client=httpx2.AsyncClient(event_hooks=event_hooks()),
            ),
        )
        self.claude = anthropic.AsyncAnthropicVertex(
            region=self.location,
            project_id=self.project,
            credentials=self.credentials,
            base_url=f"{self.base_url}/v1",
            max_retries=0,
            http_client=anthropic.DefaultAsyncHttpxClient(event_hooks=event_hooks()),
        )

    def _deadlines(self, request: ModelRequest) -> Deadlines:
        return Deadlines.of(
            request,
            self.timeouts.first_byte_s,
            self.timeouts.total_s,
            limits=self.answer_limits,
            max_tokens=DEFAULT_MAX_TOKENS,
        )

    async def check(self) -> bool:
        return self.ready

    def _require_ready(self) -> None:
        if not self.ready:
            raise ModelUnavailable("Vertex AI credentials are not configured")

    async def generate(self, request: ModelRequest) -> ModelResult:
        self._require_ready()
        deadlines = self._deadlines(request)
        model = request.target.identifier or request.target.name
        publisher = publisher_of(model)
        if publisher == "anthropic":
            return await claude.generate_with(self.claude, request, deadlines, PROVIDER)
        try:
            if publisher == "mistralai":
                return await within(self._fim(request, model, deadlines), deadlines, PROVIDER)
            return await within(self._gemini(request, model, deadlines), deadlines, PROVIDER)
        except Exception as exc:
            raise map_error(exc) from None

    async def stream(self, request: ModelRequest) -> AsyncIterator[Chunk]:
        self._require_ready()
        deadlines = self._deadlines(request)
        model = request.target.identifier or request.target.name
        publisher = publisher_of(model)
        if publisher == "anthropic":
            source = claude.stream_with(self.claude, request, deadlines, PROVIDER)
        elif publisher == "mistralai":
            source = self._fim_stream(request, model, deadlines)
        else:
            source = self._gemini_stream(request, model, deadlines)
        try:
            async for chunk in guarded(source, deadlines, PROVIDER):
                yield chunk
        except Exception as exc:
            raise map_error(exc) from None

    # -- Gemini ---------------------------------------------------------------------------
    def _gemini_args(
        self, request: ModelRequest, deadlines: Deadlines, streaming: bool
    ) -> dict[str, Any]:
        system: list[str] = []
        contents: list[genai_types.Content] = []
        if request.kind == "chat":
            for message in request.messages:
                if message.role == "system":
                    system.append(message.content)
                    continue
                role = "model" if message.role == "assistant" else "user"
                contents.append(
                    genai_types.Content(role=role, parts=[genai_types.Part(text=message.content)])
                )
        else:
            contents.append(
                genai_types.Content(role="user", parts=[genai_types.Part(text=request.prefix)])
            )
        timeout = deadlines.first_byte_s if streaming else deadlines.total_s
        config = genai_types.GenerateContentConfig(
            system_instruction="\n\n".join(system) or None,
            max_output_tokens=max_tokens(request, DEFAULT_MAX_TOKENS),
            temperature=request.temperature,
            top_p=request.top_p,
            top_k=request.top_k,
            stop_sequences=stop_sequences(request, 5) or None,
            http_options=genai_types.HttpOptions(timeout=int(timeout * 1000)),
        )
        return {"model": request.target.identifier, "contents": contents, "config": config}

    async def _gemini(self, request: ModelRequest, model: str, deadlines: Deadlines) -> ModelResult:
        response = await self.gemini.aio.models.generate_content(
            **self._gemini_args(request, deadlines, streaming=False)
        )
        usage = response.usage_metadata
        return ModelResult(
            text=response.text or "",
            input_tokens=usage_int(usage.prompt_token_count) if usage else 0,
            output_tokens=usage_int(usage.candidates_token_count) if usage else 0,
            finish_reason=_gemini_finish(response) or "length",
        )

    async def _gemini_stream(
        self, request: ModelRequest, model: str, deadlines: Deadlines
    ) -> AsyncIterator[Chunk]:
        stream = await self.gemini.aio.models.generate_content_stream(
            **self._gemini_args(request, deadlines, streaming=True)
        )
        finished = False
        input_tokens = output_tokens = 0
        async for response in stream:
            if response.text:
                yield Chunk(text=response.text)
            if response.usage_metadata:
                input_tokens = usage_int(response.usage_metadata.prompt_token_count)
                output_tokens = usage_int(response.usage_metadata.candidates_token_count)
            finished = finished or bool(_gemini_finish(response))
        if not finished:
            raise ModelError(f"{PROVIDER} stream ended before a finish reason")
        yield Chunk(text="", input_tokens=input_tokens, output_tokens=output_tokens, final=True)

    # -- Codestral (Mistral FIM on Vertex) ------------------------------------------------
    async def _headers(self) -> dict[str, str]:
        async with self._token_lock:
            if not self.credentials.valid:
                await asyncio.to_thread(self.credentials.refresh, AuthRequest())
        return {"Authorization": f"Bearer {self.credentials.token}"}

    def _fim_call(
        self, request: ModelRequest, model: str, streaming: bool
    ) -> tuple[str, dict[str, Any]]:
        verb = "streamRawPredict" if streaming else "rawPredict"
        path = (
            f"/v1/projects/{self.project}/locations/{self.location}"
            f"/publishers/mistralai/models/{model}:{verb}"
        )
        body: dict[str, Any] = {
            "model": model,
            "prompt": request.prefix,
            "suffix": request.suffix,
            "max_tokens": max_tokens(request, 64),
            "stream": streaming,
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        stops = stop_sequences(request)
        if stops:
            body["stop"] = stops
        return path, body

    async def _fim(self, request: ModelRequest, model: str, deadlines: Deadlines) -> ModelResult:
        path, body = self._fim_call(request, model, streaming=False)
        response = await self.http.post(
            path, json=body, headers=await self._headers(), timeout=_httpx_timeout(deadlines, False)
        )
        if response.status_code >= 400:
            raise from_status(response.status_code, response.headers, PROVIDER)
        data = response.json()
        choice = data["choices"][0]
        text = (choice.get("message") or {}).get("content") or choice.get("text") or ""
        usage = data.get("usage") or {}
        return ModelResult(
            text=text,
            input_tokens=usage_int(usage.get("prompt_tokens")),
            output_tokens=usage_int(usage.get("completion_tokens")),
            finish_reason=choice.get("finish_reason") or "length",
        )

    async def _fim_stream(
        self, request: ModelRequest, model: str, deadlines: Deadlines
    ) -> AsyncIterator[Chunk]:
        path, body = self._fim_call(request, model, streaming=True)
        headers = await self._headers()
        async with self.http.stream(
            "POST", path, json=body, headers=headers, timeout=_httpx_timeout(deadlines, True)
        ) as response:
            if response.status_code >= 400:
                await response.aread()
                raise from_status(response.status_code, response.headers, PROVIDER)
            finished = False
            usage: dict[str, Any] = {}
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                event = json.loads(payload)
                usage = event.get("usage") or usage
                for choice in event.get("choices", ()):
                    text = (choice.get("delta") or {}).get("content") or choice.get("text") or ""
                    if text:
                        yield Chunk(text=text)
                    finished = finished or bool(choice.get("finish_reason"))
        if not finished:
            raise ModelError(f"{PROVIDER} stream ended before a finish_reason")
        yield Chunk(
            text="",
            input_tokens=usage_int(usage.get("prompt_tokens")),
            output_tokens=usage_int(usage.get("completion_tokens")),
            final=True,
        )


def _gemini_finish(response: Any) -> str:
    for candidate in response.candidates or ():
        if candidate.finish_reason:
            return str(candidate.finish_reason)
    return ""


def _httpx_timeout(deadlines: Deadlines, streaming: bool) -> httpx.Timeout:
    read = deadlines.first_byte_s if streaming else deadlines.total_s
    return httpx.Timeout(deadlines.total_s, connect=min(5.0, deadlines.first_byte_s), read=read)


def map_error(exc: Exception) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, genai_errors.APIError):
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        return from_status(exc.code, headers, PROVIDER)
    if isinstance(exc, httpx.TimeoutException):
        return ModelTimeout(f"{PROVIDER} timed out")
    return (
        claude.map_error(exc, PROVIDER)
        if isinstance(exc, anthropic.APIError)
        else unexpected(PROVIDER, exc)
    )
