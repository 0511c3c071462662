"""What each provider proxy lets through: paths, models, headers both ways (API.md §1.9).

Decisions only; `serve_app/proxy/forwarder.py` does the I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from core.errors import BadRequestError, NotFoundError

# Unit primitives a proxy request may name in `X-Gitlab-Unit-Primitive`.
UNIT_PRIMITIVES = frozenset(
    {
        "ai_gateway_model_provider_proxy",
        "analyze_ci_job_failure",
        "ask_build",
        "ask_commit",
        "ask_epic",
        "ask_issue",
        "ask_merge_request",
        "complete_code",
        "documentation_search",
        "duo_chat",
        "explain_code",
        "explain_vulnerability",
        "fix_code",
        "generate_code",
        "generate_commit_message",
        "generate_description",
        "generate_issue_description",
        "glab_ask_git_command",
        "refactor_code",
        "resolve_vulnerability",
        "review_merge_request",
        "summarize_comments",
        "summarize_merge_request",
        "summarize_new_merge_request",
        "summarize_review",
        "troubleshoot_job",
        "write_tests",
    }
)

ANTHROPIC_MODELS = frozenset(
    {
        "claude-sonnet-4-5-20250929",
        "claude-sonnet-4-6",
        "claude-haiku-4-5-20251001",
        "claude-sonnet-4-20250514",
        "claude-3-7-sonnet-20250219",
        "claude-3-5-sonnet-20241022",
        "claude-3-5-haiku-20241022",
        "claude-opus-4-1-20250805",
    }
)
VERTEX_MODELS = frozenset(
    {
        "gemini-2.5-flash",
        "gemini-2.5-pro",
        "text-embedding-005",
        "codestral-2501",
        "claude-sonnet-4-5@20250929",
        "claude-sonnet-4-6",
        "claude-haiku-4-5@20251001",
        "claude-sonnet-4@20250514",
        "claude-3-7-sonnet@20250219",
        "claude-3-5-sonnet-v2@20241022",
    }
)
OPENAI_MODELS = frozenset(
    {
        "gpt-5",
        "gpt-5-mini",
        "gpt-5-nano",
        "gpt-5-codex",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4o",
        "gpt-4o-mini",
        "text-embedding-3-small",
        "text-embedding-3-large",
    }
)

VERTEX_PATH = re.compile(
    r"^/v1/projects/[^/]+/locations/[^/]+/publishers/(?P<publisher>google|anthropic)/models/"
    r"(?P<model>[^/:]+):(?P<verb>predict|serverStreamingPredict|streamRawPredict|rawPredict|"
    r"generateContent|streamGenerateContent)$"
)


@dataclass(frozen=True, slots=True)
class ProxyRoute:
    """Where an allowed request goes upstream and which headers cross in each direction."""

    provider: str
    upstream_path: str  # path and query, relative to the provider's base URL
    request_headers: frozenset[str]
    response_headers: frozenset[str]


def _model_of(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        raise BadRequestError("Invalid JSON") from None
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, str) or not model:
        raise BadRequestError("Failed to extract model name")
    return model


def anthropic_route(path: str, query: str, body: bytes) -> ProxyRoute:
    full = f"{path}?{query}" if query else path
    if full not in (
        "/v1/messages",
        "/v1/messages?beta=true",
        "/v1/messages/count_tokens?beta=true",
    ):
        raise NotFoundError("Not found")
    if _model_of(body) not in ANTHROPIC_MODELS:
        raise BadRequestError("Unsupported model")
    return ProxyRoute(
        "anthropic",
        full,
        frozenset({"accept", "content-type", "anthropic-version", "anthropic-beta"}),
        frozenset({"content-type", "anthropic-beta"}),
    )


def vertex_route(path: str, query: str, project: str, location: str) -> ProxyRoute:
    match = VERTEX_PATH.match(path)
    if match is None or query not in ("", "alt=sse"):
        raise NotFoundError("Not found")
    if match["model"] not in VERTEX_MODELS:
        raise BadRequestError("Unsupported model")
    # The caller's project and location mean nothing here: the gateway's own are used.
    upstream = (
        f"/v1/projects/{project}/locations/{location}/publishers/{match['publisher']}"
        f"/models/{match['model']}:{match['verb']}"
    )
    return ProxyRoute(
        "vertex-ai",
        f"{upstream}?{query}" if query else upstream,
        frozenset({"accept", "content-type"}),
        frozenset({"content-type"}),
    )


def openai_route(path: str, query: str, body: bytes) -> ProxyRoute:
    if path not in ("/v1/chat/completions", "/v1/embeddings", "/v1/models", "/v1/responses"):
        raise NotFoundError("Not found")
    if path != "/v1/models" and _model_of(body) not in OPENAI_MODELS:
        raise BadRequestError("Unsupported model")
    return ProxyRoute(
        "openai",
        f"{path}?{query}" if query else path,
        frozenset({"accept", "content-type", "openai-beta"}),
        frozenset({"content-type", "openai-processing-ms", "x-request-id"}),
    )
