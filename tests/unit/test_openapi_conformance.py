"""The OpenAPI document tells the truth (issue 14, item 8): schemathesis runs every phase and
every check against the app in-process (no Ray, the mock backend), once with auth bypassed and
once with real RS256 JWTs, where requests without a token must get the documented 401/403.

Bounded for CI: a fixed seed and example count make the run the same every time. A failure
names the operation, the check, the answer that broke it and what was sent."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema

from tests.auth_support import SERVICE, USER_ID, claims, headers, jwt_settings
from tests.fakes.oidc import KeyPair
from tests.unit.conftest import make_client

SEED = 14
EXAMPLES = 10  # per operation, in the fuzzing phase
# A body the schema allows may still ask for what the contract refuses, with a documented 400
# or 422: a model a use case does not offer, a custom endpoint while they are off, a prompt
# version no registry prompt has, a context component first, a scratchpad on a user message.
# Rules of the model catalogue, the prompt registry and the request's meaning, which a JSON
# Schema cannot carry. Every other status a schema-valid request
# gets counts as schemathesis's default says.
ACCEPTED = ["2xx", "3xx", "400", "401", "403", "404", "409", "422", "429", "5xx"]
# Routes whose documented answer is a 503 by design: the Amazon Q plumbing is not available
# on this gateway (README), so every authorized call gets the unconfigured provider's 503.
NOT_AVAILABLE = "^/v1/amazon_q/"


@dataclass
class Outcome:
    operations: int = 0
    requests: int = 0
    failures: set[str] = field(default_factory=set)


def aliases(document: dict[str, Any]) -> list[str]:
    """Paths whose operation is documented exactly as an earlier path's (`/v2/completions` is
    `/v2/code/completions` under another name): the same handler and schema, so their
    coverage phase would send the same ~1,000 requests again."""
    seen: set[str] = set()
    repeats = []
    for path, operations in document["paths"].items():
        for operation in operations.values():
            key = json.dumps(
                {k: v for k, v in operation.items() if k != "operationId"}, sort_keys=True
            )
            if key in seen:
                repeats.append(path)
            seen.add(key)
    return repeats


def fuzz(settings: dict[str, Any], auth_headers: dict[str, str], coverage: bool) -> Outcome:
    client = make_client({"fastapi": {"openapi_url": "/openapi.json"}, **settings})
    app = client.app
    config: dict[str, Any] = {
        "seed": SEED,
        "generation": {"max-examples": EXAMPLES, "database": "none"},  # no replays: same every run
        "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
        "phases": {"coverage": {"enabled": coverage}},
        "operations": [
            {
                "include-path-regex": NOT_AVAILABLE,
                "checks": {"not_a_server_error": {"enabled": False}},
            }
        ],
    }
    repeated = aliases(client.get("/openapi.json").json())
    if coverage and repeated:  # an alias is still fuzzed, only its coverage phase is skipped
        config["operations"].append(
            {"include-path": repeated, "phases": {"coverage": {"enabled": False}}}
        )
    if auth_headers:
        config["headers"] = auth_headers
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", app, config=SchemathesisConfig.from_dict(config)
    )
    outcome = Outcome(operations=sum(1 for _ in schema.get_all_operations()))
    for event in from_schema(schema).execute():
        if isinstance(event, events.FatalError | events.NonFatalError):
            outcome.failures.add(f"{event.__class__.__name__}: {event}")
        if not isinstance(event, events.ScenarioFinished):
            continue
        recorder = event.recorder
        outcome.requests += len(recorder.interactions)
        for case_id, checks in recorder.checks.items():
            for check in checks:
                if check.status != Status.FAILURE:
                    continue
                interaction = recorder.interactions.get(case_id)
                response = interaction.response if interaction else None
                answer = f"{response.status_code} {response.content[:200]!r}" if response else ""
                sent = interaction.request.body if interaction else b""
                title = check.failure_info.failure.title if check.failure_info else ""
                outcome.failures.add(
                    f"{recorder.label}: {check.name} ({title}): {answer}\n    sent {sent!r:.400}"
                )
    return outcome


def _signing_keys() -> dict[str, Any]:
    signing, validation = KeyPair(f"{SERVICE}_signing_key"), KeyPair(f"{SERVICE}_validation_key")
    return jwt_settings(None, None, signing, validation) | {"_validation": validation}


@pytest.mark.parametrize("auth", ["bypassed", "jwt"])
def test_every_answer_is_the_documented_one(auth: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The bypass warns on every request: thousands of lines that would bury a failure's list.
    monkeypatch.setattr(logging.getLogger("aigw.auth"), "disabled", True)
    settings = _signing_keys()
    validation: KeyPair = settings.pop("_validation")
    if auth == "bypassed":
        settings["auth"] = {**settings["auth"], "bypass_external": True}
        sent: dict[str, str] = {}
    else:
        sent = headers(validation.sign(claims(SERVICE, sub=USER_ID, aud=SERVICE)))
    # The coverage phase (every boundary of every field: ~5,000 requests, most of the time) does
    # not depend on who asks, so it runs once; the token checks run in the other phases.
    outcome = fuzz(settings, sent, coverage=auth == "bypassed")
    print(
        f"schemathesis, auth {auth}: {outcome.operations} operations, "
        f"{outcome.requests} requests, {len(outcome.failures)} failures"
    )
    assert outcome.requests > outcome.operations * 5  # it did fuzz, not just load the document
    assert not outcome.failures, "\n".join(sorted(outcome.failures))
