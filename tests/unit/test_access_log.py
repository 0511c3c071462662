"""Structured logs (API.md §8.2): one JSON access line per request, secrets never written."""

from __future__ import annotations

import json
import logging
import random

import pytest

from core.types import ModelRequest, ModelResult
from deployments.backends.common import unexpected
from observability.masking import MASK, mask
from tests.payloads import v2_body, v3_body
from tests.unit.observability_helpers import LogCapture, SlowBackend, observed

API_KEY = "sk-ant-api03-SECRETSECRETSECRET"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlc2lnbmF0dXJl"
GITLAB_HEADERS = {
    "X-Request-ID": "corr-123",
    "X-Gitlab-Instance-Id": "inst-1",
    "X-Gitlab-Global-User-Id": "user-9",
    "X-Gitlab-Host-Name": "gitlab.example.com",
    "X-Gitlab-Version": "18.5.0",
    "X-Gitlab-Realm": "self-managed",
    "X-Gitlab-Language-Server-Version": "7.20.0",
    "X-Gitlab-Feature-Enablement-Type": "duo_pro",
    "X-Gitlab-Is-Team-Member": "false",
    "User-Agent": "code-suggestions-test/1.0",
}


@pytest.fixture
def capture():
    cap = LogCapture()
    yield cap
    cap.pipeline.stop()


def access_lines(lines):
    return [line for line in lines if line.get("logger") == "api.access"]


def test_one_json_access_line_per_request_with_contract_fields(capture):
    client, _, _ = observed(backend=SlowBackend(0.01))
    r = client.post("/v2/code/completions", json=v2_body(), headers=GITLAB_HEADERS)
    assert r.status_code == 200
    client.post("/v2/code/completions", json=v2_body(stream=True), headers=GITLAB_HEADERS)
    client.get("/monitoring/healthz")
    lines = capture.lines()
    access = access_lines(lines)
    assert len(access) == 3
    line = access[0]
    assert line["event"].endswith('"POST /v2/code/completions HTTP/1.1" 200')
    assert line["level"] == "info" and "timestamp" in line
    expected = {
        "path": "/v2/code/completions",
        "status_code": 200,
        "method": "POST",
        "correlation_id": "corr-123",
        "http_version": "1.1",
        "gitlab_instance_id": "inst-1",
        "gitlab_global_user_id": "user-9",
        "gitlab_host_name": "gitlab.example.com",
        "gitlab_version": "18.5.0",
        "gitlab_realm": "self-managed",
        "gitlab_language_server_version": "7.20.0",
        "gitlab_feature_enablement_type": "duo_pro",
        "gitlab_is_team_member": "false",
        "meta.unit_primitive": "complete_code",
        "meta.feature_category": "code_suggestions",
        "model_engine": "llm-provider-mocked",
        "user_agent": "code-suggestions-test/1.0",
        "duration_request": -1,
        "is_streaming": False,
    }
    assert {k: line.get(k) for k in expected} == expected
    assert line["duration_s"] >= 0.01
    assert line["input_tokens"] == 7 and line["output_tokens"] > 0
    assert line["total_tokens"] == line["input_tokens"] + line["output_tokens"]
    assert line["content_type"] == "application/json"
    assert line["tracked_internal_events"] == []  # events are off by default
    assert line["gateway_timing_ms"]["backend_ttfb"] >= 10
    assert line["url"].startswith("http://testserver/v2/code/completions")
    streamed = access[1]
    assert streamed["is_streaming"] is True
    assert streamed["first_chunk_duration_s"] >= 0.01
    assert streamed["response_start_duration_s"] >= streamed["first_chunk_duration_s"]
    assert access[2]["path"] == "/monitoring/healthz" and "model_engine" not in access[2]


class FailingBackend(SlowBackend):
    """A provider SDK that raises what no backend maps: the backend logs it and answers 503."""

    async def generate(self, request: ModelRequest) -> ModelResult:
        raise unexpected("mock", RuntimeError("boom"))


def test_gateway_logs_share_the_correlation_id(capture):
    client, _, _ = observed(backend=FailingBackend(0.0))
    r = client.post("/v2/code/completions", json=v2_body(), headers={"X-Request-ID": "c-77"})
    assert r.status_code == 503
    lines = capture.lines()
    failed = [line for line in lines if line.get("logger") == "aigw.backends"]
    assert failed and failed[0]["correlation_id"] == "c-77" and failed[0]["level"] == "warning"
    assert "boom" not in r.text
    (access,) = access_lines(lines)
    assert access["status_code"] == 503 and access["correlation_id"] == "c-77"


def test_no_api_key_or_token_reaches_the_log(capture):
    client, _, _ = observed(
        {"custom_models": {"enabled": True}, "logging": {"enable_request_logging": True}},
        backend=SlowBackend(0.0),
    )
    body = v2_body(model_endpoint="http://127.0.0.1:9/v1", model_api_key=API_KEY,
                   model_provider="litellm", model_name="mistral")  # fmt: skip
    headers = {**GITLAB_HEADERS, "Authorization": f"Bearer {JWT}", "X-Api-Key": API_KEY}
    client.post("/v2/code/completions", json=body, headers=headers)
    client.post("/v2/code/completions", json=v2_body(), headers=headers)
    text = capture.text()
    assert API_KEY not in text and JWT not in text
    assert "api.access" in text


def test_prompts_are_logged_only_when_request_logging_is_allowed():
    secret_code = "def greet(name):"
    cap = LogCapture()
    client, _, _ = observed(backend=SlowBackend(0.0))
    client.post("/v2/code/completions", json=v2_body(), headers=GITLAB_HEADERS)
    text = cap.text()
    assert secret_code not in text and "api.request" not in text

    cap = LogCapture()
    flags = {"x-gitlab-enabled-feature-flags": "expanded_ai_logging,other"}
    client.post("/v2/code/completions", json=v2_body(), headers={**GITLAB_HEADERS, **flags})
    (request_line,) = [x for x in cap.lines() if x.get("logger") == "api.request"]
    assert secret_code in request_line["request"]["prefix"]
    assert request_line["response"].startswith("echo: ")
    assert request_line["correlation_id"] == "corr-123"

    # The flag is disallowed for the realm: no prompt text.
    cap = LogCapture()
    client, _, _ = observed(
        {"feature_flags": {"disallowed_flags": {"self-managed": ["expanded_ai_logging"]}}},
        backend=SlowBackend(0.0),
    )
    client.post("/v2/code/completions", json=v2_body(), headers={**GITLAB_HEADERS, **flags})
    assert secret_code not in cap.text()


def test_self_hosted_instances_opt_in_with_the_verbose_logs_header():
    cap = LogCapture()
    client, _, _ = observed({"custom_models": {"enabled": True}}, backend=SlowBackend(0.0))
    verbose = {"x-gitlab-enabled-instance-verbose-ai-logs": "true"}
    client.post("/v3/code/completions", json=v3_body(), headers=verbose)
    assert any(x.get("logger") == "api.request" for x in cap.lines())


def test_console_format_and_level_are_honoured():
    cap = LogCapture(format_json=False, level="WARNING")
    client, _, _ = observed(backend=SlowBackend(0.0))
    client.post("/v2/code/completions", json=v2_body())
    logging.getLogger("aigw.test").warning("plain line")
    text = cap.text()
    assert "plain line" in text and "api.access" not in text
    assert not text.lstrip().startswith("{")


def test_log_to_file(tmp_path):
    from core.settings import LoggingSettings
    from observability.logs import configure_logging

    path = tmp_path / "aigw.log"
    pipeline = configure_logging(LoggingSettings(to_file=str(path)))
    client, _, _ = observed(backend=SlowBackend(0.0))
    client.get("/monitoring/healthz")
    pipeline.stop()
    assert '"logger": "api.access"' in path.read_text()


def test_mask_covers_keys_and_credential_values():
    masked = mask({"api_key": "abc", "nested": {"model_api_key": "x1"}, "input_tokens": 5,
                   "note": f"header was Bearer {JWT}"})  # fmt: skip
    assert masked["api_key"] == MASK and masked["nested"]["model_api_key"] == MASK
    assert masked["input_tokens"] == 5 and JWT not in masked["note"]


def test_mask_finds_credentials_in_any_case_and_leaves_timestamps_alone():
    """The access line's timestamps skip the credential regex; a credential written in any
    case, among text like theirs, is masked as the regex masks it."""
    from observability.masking import _SECRET_VALUE

    pieces = ("sk", "SK", "Sk", "gl", "GLPAT", "glab", "gLpAt", "-", "eyJ", "EYJ", "eYj",
              "bearer", "BEARER ", "Bearer ", " ", "abcd1234", ".", "_", "ä", "T18:21:07",
              "2026-12-04", "+00:00", "x")  # fmt: skip
    rng = random.Random(18)
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        expected = _SECRET_VALUE.sub(MASK, text) if len(text) >= 16 else text
        assert mask(text) == expected, text
        assert mask({"note": text, "api_key": text}) == {"note": expected, "api_key": MASK}, text
    secrets = ("SK-ABCDEFGH12345678", "GLPAT-abcdefghij12345", "BEARER sk-abc12345678",
               "BEARER abcdefgh12345678", "BeArEr EYJabcd.efgh.ijkl")  # fmt: skip
    for secret in secrets:
        assert mask(f"header {secret} sent") == f"header {MASK} sent"
    stamp = "2026-12-04T18:21:07.723349+00:00"
    assert mask({"timestamp": stamp, "event": '1.2.3.4:5 - "POST /v2 HTTP/1.1" 200'}) == {
        "timestamp": stamp,
        "event": '1.2.3.4:5 - "POST /v2 HTTP/1.1" 200',
    }


@pytest.mark.parametrize(
    ("logged", "written"),
    [
        ("http://user:password@host/v1", f"http://{MASK}@host/v1"),
        ("endpoint https://tok@10.0.0.1:8000 down", f"endpoint https://{MASK}@10.0.0.1:8000 down"),
        ("http://u:p@ss@host/x?to=a@b", f"http://{MASK}@host/x?to=a@b"),  # up to the last @
        ("redis://:pw@cache", f"redis://{MASK}@cache"),
        ("http://host/a@b and mail x@y.z", "http://host/a@b and mail x@y.z"),  # no userinfo
    ],
)
def test_mask_hides_the_credentials_of_any_url(logged, written):
    assert mask(logged) == written
    assert mask({"proxy": {"url": logged}}) == {"proxy": {"url": written}}


def test_rails_transit_and_unexpected_errors_are_logged(capture):
    import time

    class Broken:
        async def assemble_suggestion(self, inp, target):
            raise RuntimeError("assembler bug")

    client, _, telemetry = observed(backend=SlowBackend(0.0))
    client.app.state.gateway.assembler = telemetry.instrument_assembler(Broken())
    sent = time.time() - 0.25
    r = client.post(
        "/v2/code/completions",
        json=v2_body(),
        headers={"X-Gitlab-Rails-Send-Start": str(sent), "X-Request-ID": "c-500"},
    )
    assert r.status_code == 500
    (access,) = access_lines(capture.lines())
    assert access["status_code"] == 500 and access["correlation_id"] == "c-500"
    assert access["exception_class"] == "RuntimeError"
    assert "assembler bug" in access["exception_backtrace"]
    assert 0.25 <= access["duration_request"] < 5


def test_a_handler_that_is_not_a_stream_gets_rendered_masked_records():
    from core.settings import LoggingSettings
    from observability.logs import configure_logging

    class Kept(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.buffer: list[logging.LogRecord] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.buffer.append(record)

    handler = Kept()
    pipeline = configure_logging(LoggingSettings(), handler=handler)
    client, _, _ = observed(backend=SlowBackend(0.0))
    client.post("/v2/code/completions", json=v2_body(), headers={"X-Api-Key": API_KEY})
    pipeline.stop()
    access = [r for r in handler.buffer if r.name == "api.access"]
    assert len(access) == 1 and access[0].levelno == logging.INFO
    line = json.loads(access[0].getMessage())
    assert line["path"] == "/v2/code/completions" and line["status_code"] == 200
    assert API_KEY not in access[0].getMessage()


def _as_structlog_wrote_it(line) -> str:
    """The line as written before the writer fused its copies and kept one JSON encoder:
    structlog's event dict, `mask`, `json.dumps(..., default=str)`."""
    from datetime import UTC, datetime

    event = {"event": line.event, **line.fields}
    event.setdefault("level", logging.getLevelName(line.levelno).lower())
    event.setdefault("logger", line.logger)
    stamp = datetime.fromtimestamp(line.created, UTC).isoformat(timespec="microseconds")
    event.setdefault("timestamp", stamp)
    return json.dumps(mask(event), default=str)


def test_written_lines_are_byte_for_byte_what_json_dumps_of_the_masked_event_gives():
    """Every field type the logs carry, secrets and field names that shadow the writer's own
    (`event`, `level`, `timestamp`) included, renders to exactly the bytes it rendered to."""
    import io
    import queue

    from observability.logs import Line, LogPipeline

    class Opaque:
        def __str__(self) -> str:
            return f"opaque {API_KEY}"

    values = [0.000959, 1e-05, 1.9e-05, 123456.789, -1, 0, 2**70, True, False, None,
              float("nan"), float("inf"), -0.0, "", "ascii", "naïve 日本語 \u2028 \x00 \"q\" \\",
              f"Bearer {JWT}", API_KEY, "https://user:pw@host/x", "x" * 40, [1, "a", None],
              (2.5, "tuple"), {"nested": {"api_key": "k", "ok": 1e-07}}, [], {}, Opaque(),
              {"deep": [[[[[[[[[["ten"]]]]]]]]]]}]  # fmt: skip
    rng = random.Random(8)
    pipeline = LogPipeline(queue.SimpleQueue(), logging.StreamHandler(io.StringIO()))
    pipeline.stop()
    names = ["url", "duration_s", "api_key", "token", "note", "gitlab_realm", "event", "level",
             "timestamp", "logger", "model_api_key", "cookie", "x", 7]  # fmt: skip
    for i in range(2_000):
        fields = {rng.choice(names): rng.choice(values) for _ in range(rng.randint(0, 8))}
        line = Line(
            rng.choice(["api.access", "api.request"]),
            rng.choice([logging.INFO, logging.WARNING]),
            1764883179.313313 + i * 0.37,
            rng.choice(['1.2.3.4:5 - "POST /v2 HTTP/1.1" 200', f"sent {API_KEY}", "ok"]),
            fields,
        )
        assert pipeline._text(line) == _as_structlog_wrote_it(line), line
