"""The request headers of API.md §2.7 that no other test file covers, each where the contract
reads it: the prompt-cache hint on the model call, the event context, the access log."""

from __future__ import annotations

from typing import Any

import pytest

from core.types import ModelRequest, ModelResult
from deployments.backends.mock import MockBackend
from observability.events import standard_context
from observability.record import RequestRecord
from tests.payloads import v2_body, v3_body
from tests.unit.observability_helpers import LogCapture, observed


class RecordingBackend(MockBackend):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[ModelRequest] = []

    async def generate(self, request: ModelRequest) -> ModelResult:
        self.requests.append(request)
        return await super().generate(request)


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v2/code/completions", v2_body()), ("/v4/code/suggestions", v3_body())],
)
def test_the_prompt_cache_hint_reaches_the_model_call(path: str, body: dict[str, Any]) -> None:
    backend = RecordingBackend()
    client, _, _ = observed(backend=backend)
    hint = "X-Gitlab-Model-Prompt-Cache-Enabled"
    assert client.post(path, json=body).status_code == 200
    assert client.post(path, json=body, headers={hint: "false"}).status_code == 200
    assert client.post(path, json=body, headers={hint: "true"}).status_code == 200
    assert [r.prompt_cache for r in backend.requests] == [True, False, True]


def test_the_prompt_cache_hint_is_for_completions_only() -> None:
    backend = RecordingBackend()
    client, _, _ = observed(backend=backend)
    headers = {"X-Gitlab-Model-Prompt-Cache-Enabled": "false"}
    assert client.post("/v2/code/generations", json=v2_body(), headers=headers).status_code == 200
    assert backend.requests[-1].prompt_cache is True


EVENT_HEADERS = {
    "x-gitlab-realm": ("realm", "self-managed"),
    "x-gitlab-instance-id": ("instance_id", "inst-1"),
    "x-gitlab-host-name": ("host_name", "gitlab.example.com"),
    "x-gitlab-version": ("instance_version", "18.6.0"),
    "x-gitlab-global-user-id": ("global_user_id", "g-1"),
    "x-gitlab-user-id": ("user_id", "42"),
    "x-gitlab-is-team-member": ("is_gitlab_team_member", "true"),
    "x-gitlab-project-id": ("project_id", "7"),
    "x-gitlab-namespace-id": ("namespace_id", "8"),
    "x-gitlab-root-namespace-id": ("ultimate_parent_namespace_id", "9"),
    "x-gitlab-feature-enablement-type": ("feature_enablement_type", "duo_core"),
    "x-gitlab-client-name": ("client_name", "gitlab-vscode-extension"),
    "x-gitlab-client-version": ("client_version", "6.40.0"),
    "x-gitlab-client-type": ("client_type", "ide"),
    "x-gitlab-interface": ("interface", "code_suggestions"),
    "x-gitlab-deployment-type": ("deployment_type", "self-managed"),
    "x-gitlab-organization-id": ("organization_id", "1"),
}


def record(headers: dict[str, str]) -> RequestRecord:
    return RequestRecord(started=0.0, arrived_wall=0.0, headers=headers, correlation_id="c-1")


def test_every_event_header_fills_its_standard_context_field() -> None:
    headers = {name: value for name, (_, value) in EVENT_HEADERS.items()}
    context = standard_context(record(headers), "production")
    assert {field: context[field] for field, _ in EVENT_HEADERS.values()} == {
        field: value for field, value in EVENT_HEADERS.values()
    }


@pytest.mark.parametrize(
    "header", ["x-gitlab-feature-enabled-by-namespace-ids", "x-gitlab-saas-duo-pro-namespace-ids"]
)
def test_namespace_ids_come_from_the_header_or_its_legacy_name(header: str) -> None:
    context = standard_context(record({header: "12, 34"}), "production")
    assert context["feature_enabled_by_namespace_ids"] == [12, 34]


def test_the_new_namespace_header_wins_over_the_legacy_one() -> None:
    headers = {
        "x-gitlab-feature-enabled-by-namespace-ids": "1",
        "x-gitlab-saas-duo-pro-namespace-ids": "2",
    }
    assert standard_context(record(headers), "p")["feature_enabled_by_namespace_ids"] == [1]


LOG_HEADERS = {
    "X-Gitlab-Client-Type": ("gitlab_client_type", "ide"),
    "X-Gitlab-Client-Name": ("gitlab_client_name", "gitlab-jetbrains-plugin"),
    "X-Gitlab-Client-Version": ("gitlab_client_version", "3.11.0"),
    "X-Gitlab-Interface": ("gitlab_interface", "duo_chat"),
    "X-Gitlab-Deployment-Type": ("gitlab_deployment_type", ".com"),
    "X-Gitlab-Subject-Type": ("gitlab_subject_type", "user"),
    "X-Gitlab-Organization-Id": ("gitlab_organization_id", "1"),
    "X-Gitlab-Saas-Duo-Pro-Namespace-Ids": ("gitlab_saas_duo_pro_namespace_ids", "5"),
    "X-Gitlab-Feature-Enabled-By-Namespace-Ids": ("gitlab_feature_enabled_by_namespace_ids", "6"),
}


def test_client_and_deployment_headers_reach_the_access_log() -> None:
    capture = LogCapture()
    try:
        client, _, _ = observed()
        headers = {name: value for name, (_, value) in LOG_HEADERS.items()}
        assert client.post("/v2/code/completions", json=v2_body(), headers=headers).is_success
        lines = [line for line in capture.lines() if line.get("logger") == "api.access"]
    finally:
        capture.pipeline.stop()
    assert {field: lines[0].get(field) for field, _ in LOG_HEADERS.values()} == {
        field: value for field, value in LOG_HEADERS.values()
    }
