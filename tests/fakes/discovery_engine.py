"""Vertex AI Search (Discovery Engine) fake: an OAuth token endpoint and the REST `:search` of
`projects/<p>/locations/<l>/collections/default_collection/dataStores/<id>/servingConfigs/
default_config`, answering from the documents a test gives each data store (a data store it
was not given is Google's 404 NOT_FOUND)."""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.google import TOKEN, error_body
from tests.fakes.server import FakeProvider, Received, Send

SEARCH = re.compile(
    r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/collections/"
    r"default_collection/dataStores/(?P<store>[^/]+)/servingConfigs/default_config:search$"
)


def document(ident: str, content: str, title: str, url: str) -> dict[str, Any]:
    """A document of the GitLab docs data stores as upstream's ingestion writes them."""
    return {
        "id": ident,
        "content": content,
        "metadata": {"title": title, "source_url": url, "md5sum": ident, "source": "doc"},
    }


class FakeDiscoveryEngine(FakeProvider):
    def __init__(self) -> None:
        super().__init__()
        self.stores: dict[str, list[dict[str, Any]]] = {}

    async def handle(self, received: Received, send: Send) -> None:
        if received.path == "/token":
            await self.json_answer(
                send, {"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer"}
            )
            return
        match = SEARCH.match(received.path)
        behaviour = self.next_behaviour()
        if await self.before(behaviour, send, error_body(behaviour.status)):
            return
        if match is None or match["store"] not in self.stores:
            missing = {"code": 404, "message": "DataStore not found", "status": "NOT_FOUND"}
            await self.json_answer(send, {"error": missing}, 404)
            return
        if received.headers.get("authorization") != f"Bearer {TOKEN}":
            await self.json_answer(send, error_body(401), 401)
            return
        body = received.json()
        docs = self.stores[match["store"]][: int(body.get("pageSize", 10))]
        results = [
            {
                "id": doc["id"],
                "document": {
                    "name": f"{received.path.split(':')[0]}/branches/0/documents/{doc['id']}",
                    "id": doc["id"],
                    "structData": {"content": doc["content"], "metadata": doc["metadata"]},
                },
            }
            for doc in docs
        ]
        await self.json_answer(
            send, {"results": results, "totalSize": len(results), "attributionToken": "t"}
        )
