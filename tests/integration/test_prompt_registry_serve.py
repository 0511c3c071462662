"""The prompt registry through Ray Serve: in the ingress replica and as its own deployment."""

from __future__ import annotations

import httpx
import pytest

from deployments.suggestions.tokenizer import default_tokenizer
from tests.integration.conftest import BYPASS
from tests.payloads import v3_body

pytestmark = pytest.mark.serve

PREFIX = "def greet(name):\n    "
SUFFIX = "\n\nprint(greet('x'))\n"


@pytest.fixture(params=["ingress", "deployment"])
def base_url(request: pytest.FixtureRequest) -> str:
    name = "split_gateway_url" if request.param == "deployment" else "gateway_url"
    return str(request.getfixturevalue(name))


def test_completion_reports_real_token_counts(base_url: str) -> None:
    body = {
        "prompt_version": 1,
        "current_file": {
            "file_name": "a.py",
            "content_above_cursor": PREFIX,
            "content_below_cursor": SUFFIX,
        },
    }
    r = httpx.post(f"{base_url}/v2/code/completions", json=body, headers=BYPASS, timeout=30)
    assert r.status_code == 200, r.text
    tok = default_tokenizer()
    meta = r.json()["model"]["tokens_consumption_metadata"]
    assert meta["input_tokens"] == tok.count(PREFIX) + tok.count(SUFFIX)


def test_prompt_version_errors_cross_the_handle_as_4xx(base_url: str) -> None:
    bad = v3_body(
        "code_editor_generation",
        prompt_id="code_suggestions/generations",
        prompt_version="^42.0.0",
    )
    r = httpx.post(f"{base_url}/v4/code/suggestions", json=bad, headers=BYPASS, timeout=30)
    assert r.status_code == 400 and "^42.0.0" in r.json()["detail"]
    unknown = v3_body("code_editor_generation", prompt_id="no/such", stream=True)
    r = httpx.post(f"{base_url}/v4/code/suggestions", json=unknown, headers=BYPASS, timeout=30)
    assert r.status_code == 404 and r.json() == {"detail": "Prompt 'no/such' not found"}


def test_generation_prompt_renders_through_serve(base_url: str) -> None:
    body = v3_body(
        "code_editor_generation",
        prompt_id="code_suggestions/generations",
        prompt_version="1.0.0",
        prompt_enhancer={"libraries": ["gin", "gorm"]},
    )
    r = httpx.post(f"{base_url}/v4/code/suggestions", json=body, headers=BYPASS, timeout=30)
    assert r.status_code == 200, r.text
    assert "gin, gorm" in r.json()["choices"][0]["text"]
