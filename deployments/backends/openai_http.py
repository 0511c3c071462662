"""OpenAI-compatible calls (`/completions`, `/chat/completions`) over one pooled aiohttp
session per endpoint: HTTP/1.1 keep-alive, the body serialized from a dict, a whole answer read
under its cap and parsed with `json.loads` (streams: `openai_sse`, on the same sessions).

Why not the `openai` SDK for these calls: its request pipeline, not the network, was most of
the upstream path's cost. Measured in-process against the zero-latency `bench/fake_openai.py`
(min of 8 alternating rounds of 400 calls, CPU per call on the 2-core dev machine):
`client.completions.create()` on the SDK's own aiohttp transport 1.77 ms, the SDK's low-level
`client.post(cast_to=httpx.Response)` 1.42 ms, a pooled `aiohttp.ClientSession.post` +
`json.loads` 0.23 ms; `OpenAICompatBackend.generate` went from 1.57-2.35 ms to 0.29-0.35 ms
(min of alternating rounds, main vs this module). aiohttp is the SDK's own transport here, so
the connection handling on the wire is the same; what goes is the SDK's option merging, its
httpx2 request/response objects and its pydantic response models.

What the SDK did implicitly is kept on purpose, so routing's retry and fallback see the same
errors: the SDK's request headers (its User-Agent, `X-Stainless-*`, `OpenAI-Organization` /
`OpenAI-Project` from its environment variables), its JSON encoding, its timeouts
(`Deadlines.http_timeout` as its aiohttp transport passed them), redirects followed,
environment proxies, its CA bundle, a non-2xx status as that status's error, and its
exception mapping: every aiohttp connection error (a refused connection included) became its
`APITimeoutError` (our "timed out"), any other transport failure its `APIConnectionError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections import OrderedDict
from collections.abc import Iterator
from functools import cache, lru_cache
from typing import Any

import aiohttp
import openai
from multidict import CIMultiDict
from yarl import URL

from core.errors import ModelError, ModelTimeout
from deployments.backends.common import Deadlines, from_status, logger, unexpected

MAX_POOLED_ENDPOINTS = 64
# What the SDK's aiohttp transport connected with (httpx2's defaults as the SDK set them).
KEEPALIVE_S = 5.0
MAX_CONNECTIONS = 1000


@cache
def sdk_headers() -> dict[str, str]:
    """The headers the `openai` SDK sends on every call of an `AsyncOpenAI` client, computed
    once per process (it reads `OPENAI_ORG_ID` / `OPENAI_PROJECT_ID` itself)."""
    client = openai.AsyncOpenAI(api_key="unused", base_url="http://unused", max_retries=0)
    headers = {
        name: value for name, value in client.default_headers.items() if isinstance(value, str)
    }
    headers["X-Stainless-Retry-Count"] = "0"
    headers["Accept-Encoding"] = "gzip, deflate"  # httpx's; aiohttp would add `br` if it could
    headers["Connection"] = "keep-alive"  # httpx says it; aiohttp's HTTP/1.1 implies it
    return headers


@cache
def ssl_context() -> ssl.SSLContext:
    """The SDK's CA bundle and TLS settings (httpx2's default context, `SSL_CERT_FILE` too)."""
    import httpx2

    return httpx2.create_ssl_context(verify=True, trust_env=True)


# `json.dumps` with these options built a new encoder on every call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def encode(body: dict[str, Any]) -> bytes:
    """The SDK's JSON encoding of a request body (httpx's defaults)."""
    return _ENCODER.encode(body).encode()


class Endpoint:
    """One upstream base URL's session, and how many calls are using it."""

    __slots__ = ("base_url", "evicted", "in_flight", "proxy", "proxy_auth", "session", "urls")

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        connector = aiohttp.TCPConnector(
            limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_S, ssl=ssl_context()
        )
        # The environment's proxy is looked up once, as httpx does when its client is built:
        # aiohttp's `trust_env` would look it up (in a thread) on every request.
        self.proxy: URL | None = None
        self.proxy_auth: aiohttp.BasicAuth | None = None
        with contextlib.suppress(LookupError, ValueError):
            self.proxy, self.proxy_auth = aiohttp.helpers.get_env_proxy_for_url(URL(base_url))
        # The SDK's constant headers as the session's defaults: aiohttp copies them in C, and
        # merges only each call's few headers over them (case-insensitively, as before).
        self.session = aiohttp.ClientSession(
            connector=connector, headers=sdk_headers(), skip_auto_headers=("User-Agent",)
        )
        self.urls: dict[str, URL | str] = {}
        self.in_flight = 0
        self.evicted = False

    def url(self, path: str) -> URL | str:
        """The URL of one of the endpoint's paths, parsed once (yarl's parsing was a visible
        share of a call); a URL yarl refuses stays a string, so aiohttp refuses it as before."""
        url = self.urls.get(path)
        if url is None:
            try:
                url = URL(self.base_url + path)
            except ValueError:
                url = self.base_url + path
            self.urls[path] = url
        return url

    def release(self) -> None:
        """One call done; an evicted endpoint's session closes after its last."""
        self.in_flight -= 1
        if self.evicted and not self.in_flight:
            self.close_soon()

    def close_soon(self) -> None:
        _closing.add(task := asyncio.ensure_future(self.session.close()))
        task.add_done_callback(_closing.discard)


_closing: set[asyncio.Future[None]] = set()  # closes in progress (the loop keeps weak refs)


class EndpointPool(OrderedDict[str, Endpoint]):
    """The sessions of the endpoints used lately; the least recently used past `limit` are
    closed as soon as no call is using them."""

    def __init__(self, limit: int = MAX_POOLED_ENDPOINTS) -> None:
        super().__init__()
        self.limit = limit

    def of(self, base_url: str) -> Endpoint:
        endpoint = self.get(base_url)
        if endpoint is not None:
            self.move_to_end(base_url)
            return endpoint
        endpoint = self[base_url] = Endpoint(base_url)
        if len(self) > self.limit:
            _, evicted = self.popitem(last=False)
            evicted.evicted = True
            if not evicted.in_flight:
                evicted.close_soon()
        return endpoint

    async def aclose(self) -> None:
        endpoints = list(self.values())
        self.clear()
        for endpoint in endpoints:
            await endpoint.session.close()


def send(
    endpoint: Endpoint,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str],
    deadlines: Deadlines,
    provider: str,
    *,
    streaming: bool,
) -> Any:
    """The POST of `body` to the endpoint's `path` (an `async with` gives its response), with
    the SDK's headers under the caller's and the SDK's HTTP timeouts."""
    try:
        data = encode(body)
    except ValueError as exc:  # NaN or infinity: the SDK refused them the same way
        raise unexpected(provider, exc) from None
    connect, read, total = deadlines.http_limits(streaming)
    # Merged over the session's (the SDK's) headers, the caller's winning, in the SDK's order.
    request_headers = CIMultiDict({"X-Stainless-Read-Timeout": str(read)})
    request_headers.update(headers)
    return endpoint.session.post(
        endpoint.url(path),
        data=data,
        headers=request_headers,
        timeout=client_timeout(connect, read if streaming else None, total),
        proxy=endpoint.proxy,
        proxy_auth=endpoint.proxy_auth,
    )


@lru_cache(maxsize=256)
def client_timeout(connect: float, read: float | None, pool: float) -> aiohttp.ClientTimeout:
    """aiohttp's timeouts for the SDK's connect / read / pool ones, built once per value.

    A whole answer gets no read timeout of aiohttp's: `post_json`'s total deadline, armed before
    the request is sent, always ends the call no later than that timer would (re-armed after
    every network read), and the timer cost a loop callback per read."""
    return aiohttp.ClientTimeout(sock_connect=connect, sock_read=read, connect=pool)


def transport_error(exc: aiohttp.ClientError, provider: str) -> ModelError:
    """An aiohttp failure as the SDK's transport mapped it, then as our error."""
    if isinstance(exc, aiohttp.ClientConnectionError):  # aiohttp's own timeouts among them
        return ModelTimeout(f"{provider} timed out")
    # The SDK's name for any other transport failure, kept for log searches.
    logger.warning("%s call failed: %s", provider, type(exc).__name__, exc_info=exc)
    return ModelError(f"{provider} call failed: APIConnectionError")


@contextlib.contextmanager
def transport_errors(provider: str) -> Iterator[None]:
    """aiohttp's failures as the SDK's transport mapped them, then as our errors."""
    try:
        yield
    except aiohttp.ClientError as exc:
        raise transport_error(exc, provider) from None


@contextlib.contextmanager
def in_use(endpoint: Endpoint) -> Iterator[Endpoint]:
    """Count a call on the endpoint; an evicted endpoint's session closes after its last."""
    endpoint.in_flight += 1
    try:
        yield endpoint
    finally:
        endpoint.release()


async def post_json(
    endpoint: Endpoint,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str],
    deadlines: Deadlines,
    provider: str,
) -> Any:
    """POST `body` to the endpoint's `path` and return the parsed JSON answer.

    The response must start (status line and headers) within the first-byte deadline and be
    read whole within the total one; its body is refused past `deadlines.answer_bytes`
    (at once when its Content-Length says so). Failures are our `GatewayError`s.
    """
    request = send(endpoint, path, body, headers, deadlines, provider, streaming=False)
    loop = asyncio.get_running_loop()
    now = loop.time()
    started = False
    # `in_use` and `transport_errors` spelled out: two generator context managers a call.
    endpoint.in_flight += 1
    try:
        async with asyncio.timeout_at(now + deadlines.first_byte_s) as deadline:
            async with request as response:
                started = True
                deadline.reschedule(now + deadlines.total_s)
                raw = await read_capped(response, deadlines.answer_bytes, provider)
    except aiohttp.ClientError as exc:  # first: aiohttp's own timeouts are TimeoutErrors too
        raise transport_error(exc, provider) from None
    except TimeoutError:
        which = "total" if started else "first-byte"
        raise ModelTimeout(f"{provider} missed its {which} deadline") from None
    finally:
        endpoint.release()
    if not 200 <= response.status < 300:
        raise from_status(response.status, response.headers, provider)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise unexpected(provider, exc) from None


async def read_capped(response: aiohttp.ClientResponse, cap: int | None, provider: str) -> bytes:
    """The whole body, never holding more than `cap` bytes (plus one network read)."""
    if cap is None:
        return await response.read()
    length = response.content_length
    if length is not None and length > cap:
        raise ModelError(f"{provider} answer exceeds {cap} bytes")
    if length is not None and not response.headers.get("Content-Encoding"):
        return await response.read()
    parts: list[bytes] = []
    seen = 0
    async for data in response.content.iter_any():
        seen += len(data)
        if seen > cap:
            raise ModelError(f"{provider} answer exceeds {cap} bytes")
        parts.append(data)
    return b"".join(parts)
