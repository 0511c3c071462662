"""The error policy of each endpoint family (`serve_app/api/error_policy.py`): the status,
headers and bytes of every answer, and the frame a broken stream ends with."""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import AsyncIterator

import pytest
from starlette.responses import Response

from core.errors import (
    AuthenticationError,
    AuthorizationError,
    AuthProviderUnavailable,
    GatewayError,
    ModelError,
    ModelRateLimited,
    ModelTimeout,
    ModelUnavailable,
    NotFoundError,
)
from serve_app.api import error_policy
from serve_app.api.error_policy import error_response


def answer(response: Response) -> tuple[int, object, str | None]:
    return response.status_code, json.loads(response.body), response.headers.get("retry-after")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            AuthenticationError("Forbidden by auth provider"),
            (401, {"error": "Forbidden by auth provider"}, None),
        ),
        (
            AuthorizationError("Unauthorized to access x"),
            (403, {"detail": "Unauthorized to access x"}, None),
        ),
        (NotFoundError("Not found"), (404, {"detail": "Not found"}, None)),
        (AuthProviderUnavailable(), (500, {"detail": "Internal server error"}, None)),
        (ModelRateLimited("slow", "17"), (429, {"detail": error_policy.TOO_MANY_REQUESTS}, "17")),
        (ModelRateLimited("slow"), (429, {"detail": error_policy.TOO_MANY_REQUESTS}, None)),
        (ModelTimeout("late"), (503, {"detail": "Inference failed"}, None)),
        (ModelError("boom", upstream_status=500), (503, {"detail": "Inference failed"}, None)),
    ],
)
def test_default(error: GatewayError, expected: tuple[int, object, str | None]) -> None:
    response = error_response(error)
    assert answer(response) == expected
    assert response.headers["content-type"] == "application/json"
    assert b": " not in response.body and b", " not in response.body  # compact, as JSONResponse


HTTP_DATE = "Wed, 21 Oct 2015 07:28:00 GMT"


@pytest.mark.parametrize(
    ("upstream", "sent"),
    [
        ("7", "7"),
        (" 120 ", "120"),
        (HTTP_DATE, HTTP_DATE),
        ("Wed, 21 Oct 2015 09:28:00 +0200", HTTP_DATE),  # the one canonical form, in GMT
        ("Wednesday, 21-Oct-15 07:28:00 GMT", HTTP_DATE),  # obsolete forms, rewritten
        (f"{HTTP_DATE}<script>x</script>", HTTP_DATE),  # never the upstream's own text
        ("7, <script>x</script>", None),
        ("<script>x</script>", None),
        ("-1", None),
        ("1.5", None),
        ("\u0664\u0662", None),  # digits, but not ASCII ones
        ("1" * 11, None),
        ("soon", None),
        ("", None),
    ],
)
def test_429_passes_on_only_a_valid_retry_after(upstream: str, sent: str | None) -> None:
    status, body, retry_after = answer(error_response(ModelRateLimited("slow", upstream)))
    assert (status, body) == (429, {"detail": error_policy.TOO_MANY_REQUESTS})
    assert retry_after == sent


def test_retry_after_stays_clean_across_a_handle() -> None:
    """Errors cross DeploymentHandles pickled: the copy is checked again, and still valid."""
    copy = pickle.loads(pickle.dumps(ModelRateLimited("slow", "Wed, 21 Oct 2015 09:28:00 +0200")))
    assert copy.retry_after == HTTP_DATE
    assert pickle.loads(pickle.dumps(ModelRateLimited("slow", "7, <b>"))).retry_after is None


def test_default_logs_the_model_error_it_hides(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="aigw.errors"):
        error_response(ModelError("provider said no"), "corr-1")
    assert "model error: provider said no" in caplog.text


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            ModelError("x", upstream_status=500),
            (502, {"detail": "Anthropic API Status Error."}, None),
        ),
        (ModelTimeout("late"), (504, {"detail": "Anthropic API Timeout Error."}, None)),
        (ModelError("connect failed"), (502, {"detail": "Anthropic API Connection Error."}, None)),
        (ModelRateLimited("slow", "7"), (429, {"detail": error_policy.TOO_MANY_REQUESTS}, "7")),
    ],
)
def test_legacy_chat(error: ModelError, expected: tuple[int, object, str | None]) -> None:
    assert answer(error_response(error_policy.legacy_chat_error(error))) == expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            ModelError("x", upstream_status=500),
            (421, {"detail": "500: Internal Server Error"}, None),
        ),
        (ModelRateLimited("slow", "7"), (421, {"detail": "429: Too Many Requests"}, None)),
        (ModelError("x", upstream_status=599), (421, {"detail": "599: Unknown Status"}, None)),
        (ModelTimeout("late"), (503, {"detail": "Inference failed"}, None)),
        (ModelError("connect failed"), (503, {"detail": "Inference failed"}, None)),
    ],
)
def test_prompts(error: ModelError, expected: tuple[int, object, str | None]) -> None:
    assert answer(error_response(error_policy.prompts_error(error))) == expected


def test_sse_frame() -> None:
    frame = error_policy.sse_error_frame(ModelError("boom"), "corr-1")
    assert (
        frame == 'event: error\r\ndata: {"message": "Inference failed", "retryable": true}\r\n\r\n'
    )


@pytest.mark.parametrize(
    ("error", "message", "retryable"),
    [
        (ModelTimeout("late"), "late", True),
        (ModelRateLimited("slow"), "slow", True),
        (ModelUnavailable("none"), "none", True),
        (ModelError("bad", upstream_status=502), "bad", True),
        (ModelError("bad", upstream_status=400), "bad", False),
        (ModelError(""), "Inference failed", False),
        (AuthorizationError("no"), "no", False),
    ],
)
def test_ndjson_event(error: GatewayError, message: str, retryable: bool) -> None:
    event = error_policy.ndjson_error_event(error)
    assert event.as_json() == {
        "type": "error",
        "data": {"message": message, "retryable": retryable},
    }


async def test_raw_text_passes_pieces_then_logs_and_aborts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def pieces() -> AsyncIterator[str]:
        yield "a"
        yield "b"
        raise ModelError("gone")

    seen = []
    with caplog.at_level(logging.ERROR, logger="aigw.suggestions"), pytest.raises(ModelError):
        async for piece in error_policy.raw_text(pieces(), "corr-1"):
            seen.append(piece)
    assert seen == ["a", "b"]
    assert "stream failed mid-way: gone" in caplog.text


ERRORS = [
    {"loc": ("body", 1, "current_file"), "msg": "Field required", "type": "missing", "input": 3}
]


@pytest.mark.parametrize("verbose", [False, True])
def test_validation(verbose: bool) -> None:
    safe = [{"loc": ["body", 1, "current_file"], "msg": "Field required", "type": "missing"}]
    response = error_policy.validation_response(ERRORS, verbose)
    detail = str(safe) if verbose else "Validation error"
    assert answer(response) == (422, {"detail": detail, "errors": safe}, None)
    assert b"input" not in response.body  # never the offending input
