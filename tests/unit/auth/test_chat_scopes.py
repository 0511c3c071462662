"""Unit primitives of the chat and prompts routes, with real RS256 tokens from a local OIDC
issuer: the token's `scopes` decide, exactly as a GitLab instance's token would."""

from __future__ import annotations

import pytest

from tests.auth_support import claims
from tests.unit.auth.test_jwt_negative import post

CHAT_V1 = {
    "prompt_components": [
        {
            "type": "prompt",
            "metadata": {"source": "GitLab EE", "version": "17.2.0"},
            "payload": {"content": "explain"},
        }
    ]
}
AGENT_WITH_FILE = {
    "messages": [
        {
            "role": "user",
            "content": "what does it do?",
            "additional_context": [{"category": "file", "id": "a.py", "content": "x = 1"}],
        }
    ]
}
COMMIT = {"inputs": {"diff": "+x"}}
EMBED = {"model_metadata": {"provider": "gitlab", "identifier": ""}, "contents": ["x = 1"]}
SEARCH = {
    "type": "search",
    "metadata": {"source": "GitLab EE", "version": "17.3"},
    "payload": {"query": "pipelines"},
}


@pytest.mark.parametrize(
    ("path", "body", "scopes", "status", "detail"),
    [
        ("/v1/prompts/generate_commit_message", COMMIT, ["duo_chat"], 403,
         "Unauthorized to access 'generate_commit_message'"),
        ("/v1/prompts/generate_commit_message", COMMIT, ["generate_commit_message"], 200, None),
        ("/v2/prompts/model_configuration/check", {"inputs": {}}, ["complete_code"], 200, None),
        ("/v1/chat/summarize_comments", CHAT_V1, ["duo_chat"], 403,
         "Unauthorized to access summarize_comments"),
        ("/v1/chat/explain_code", CHAT_V1, ["duo_chat"], 200, None),
        ("/v2/chat/agent", AGENT_WITH_FILE, ["duo_chat"], 403,
         "Unauthorized to access include_file_context"),
        ("/v2/chat/agent", AGENT_WITH_FILE, ["duo_chat", "include_file_context"], 200, None),
        ("/v2/chat/agent", {"messages": [{"role": "user", "content": "hi"}]}, ["complete_code"],
         403, "Unauthorized to access duo chat"),
        ("/v1/search/gitlab-docs", SEARCH, ["duo_chat"], 403,
         "Unauthorized to search documentations"),
        ("/v1/embeddings/code_embeddings", EMBED, ["duo_chat"], 403,
         "Unauthorized to access 'embeddings_code'"),
    ],
)  # fmt: skip
def test_scopes_of_a_real_token(client, customers, path, body, scopes, status, detail):
    token = customers.sign(claims(customers.url, scopes=scopes))
    response = post(client, token, path, body)
    assert response.status_code == status, response.text
    if detail:
        assert response.json() == {"detail": detail}
