"""ModelRequest <-> the OpenAI completion / chat bodies that vLLM's serving layer speaks.

Plain dicts in and out, so this module needs neither vLLM nor Ray and unit tests drive it
directly; `server.py` wraps the bodies in vLLM's request types.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from core.errors import BadRequestError, ModelError, ModelRateLimited
from core.types import Chunk, ModelRequest, ModelResult
from deployments.backends.vllm.families import prompting_for
from deployments.backends.vllm.spec import CustomModelSpec

DEFAULT_MAX_TOKENS = {"completion": 64, "chat": 1024}
MIN_PROMPT_TOKENS = 16  # keep at least this much prompt room when max_tokens is too large


def completion_prompt(request: ModelRequest, spec: CustomModelSpec) -> str:
    """The text the model continues: FIM layout when the family has one and there is a
    suffix, else the text before the cursor."""
    fim = prompting_for(spec.family, spec.fim_template).fim_template
    if fim and request.suffix:
        return fim.replace("{prefix}", request.prefix).replace("{suffix}", request.suffix)
    return request.prefix


def request_body(request: ModelRequest, spec: CustomModelSpec, *, stream: bool) -> dict[str, Any]:
    """The OpenAI body for `request`: `/v1/completions` shape for kind=completion, chat
    otherwise. The prompt is cut from the left to fit the context window (the end of the
    text nearest the cursor matters most), so a long file never fails the request."""
    window = spec.context_tokens
    wanted = request.max_tokens or spec.params.max_tokens or DEFAULT_MAX_TOKENS[request.kind]
    max_tokens = max(1, min(int(wanted), window - MIN_PROMPT_TOKENS))
    body: dict[str, Any] = {
        "model": spec.name,
        "max_tokens": max_tokens,
        "stream": stream,
        "truncate_prompt_tokens": window - max_tokens,
    }
    body.update(spec.sampling)
    if stream:
        body["stream_options"] = {"include_usage": True}
    for name in ("temperature", "top_p", "top_k"):
        value = getattr(request, name)
        if value is None:
            value = getattr(spec.params, name)
        if value is not None:
            body[name] = value
    stop = [*request.stop, *prompting_for(spec.family, stop=spec.stop).stop]
    if stop:
        body["stop"] = list(dict.fromkeys(stop))
    if request.kind == "chat":
        body["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
    else:
        body["prompt"] = completion_prompt(request, spec)
    if request.correlation_id:
        body["request_id"] = f"{request.correlation_id}-{uuid.uuid4().hex[:12]}"
    return body


def raise_for_error(payload: dict[str, Any]) -> None:
    """Map an OpenAI-style error body from the engine to the gateway's error types."""
    error = payload.get("error")
    if not isinstance(error, dict):
        return
    code = error.get("code")
    status = code if isinstance(code, int) else 500
    message = str(error.get("message") or "model error")[:500]
    if status == 429:
        raise ModelRateLimited()
    if status == 400:
        raise BadRequestError(message)
    raise ModelError(upstream_status=status)


def _choice_text(choice: dict[str, Any]) -> str:
    if "text" in choice:
        return str(choice.get("text") or "")
    message = choice.get("message") or choice.get("delta") or {}
    return str(message.get("content") or "")


def result_of(chunks: Iterable[Chunk]) -> ModelResult:
    """The whole answer from its stream of chunks (text, token counts, finish reason)."""
    text: list[str] = []
    result = ModelResult(text="")
    for chunk in chunks:
        text.append(chunk.text)
        if chunk.finish_reason:
            result.finish_reason = chunk.finish_reason
        if chunk.final:
            result.input_tokens, result.output_tokens = chunk.input_tokens, chunk.output_tokens
    result.text = "".join(text)
    return result


def parse_sse(event: str) -> Iterator[dict[str, Any]]:
    """The JSON payloads in a piece of an OpenAI SSE stream (`data: {...}` lines)."""
    for line in event.splitlines():
        line = line.strip()
        if not line.startswith("data:"):
            continue
        data = line[len("data:") :].strip()
        if data and data != "[DONE]":
            yield json.loads(data)


def payloads_of(item: Any) -> list[dict[str, Any]]:
    """The JSON payloads in what LLMServer yields: a response model, an SSE string, or a
    list of them (it batches streamed events)."""
    items = item if isinstance(item, list) else [item]
    out: list[dict[str, Any]] = []
    for one in items:
        if isinstance(one, str):
            out.extend(parse_sse(one))
        elif isinstance(one, dict):
            out.append(one)
        elif hasattr(one, "model_dump"):
            out.append(one.model_dump())
    return out


def chunks_of(payload: dict[str, Any]) -> Iterator[Chunk]:
    """Chunks for one streamed event; the usage-only event becomes the final chunk."""
    raise_for_error(payload)
    for choice in payload.get("choices") or []:
        text = _choice_text(choice)
        reason = choice.get("finish_reason")
        if text or reason:
            yield Chunk(text=text, finish_reason=str(reason) if reason else None)
    usage = payload.get("usage")
    if usage:
        yield Chunk(
            text="",
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
            final=True,
        )
