"""Vertex AI Search (Discovery Engine) over the GitLab docs data stores, by its REST API.

One call: `POST /v1/projects/<p>/locations/<l>/collections/default_collection/dataStores/
gitlab-docs-<major>-<minor>/servingConfigs/default_config:search` with query expansion and
spell correction on AUTO, as upstream asks. A data store that does not exist (404, or a
version that is not `<major>.<minor>...`) is retried once with
`AIGW_VERTEX_SEARCH__FALLBACK_DATASTORE_VERSION`; neither -> 400 `Data store not found.`.

Why REST and not `google-cloud-discoveryengine`: that client's async surface is gRPC (it would
add grpc, proto-plus and a generated-types package for one call), while `google-auth` (already
here for Vertex models) signs the request and `httpx` sends it; a REST fake then tests it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx

from core.provider_settings import VertexSearchSettings
from deployments.google_credentials import GoogleToken
from deployments.search.types import DataStoreNotFound, SearchHit, SearchUnavailable

logger = logging.getLogger("aigw.search")

APP = "gitlab-docs"
_VERSION = re.compile(r"^(\d+)\.(\d+)")


class _NoDataStore(Exception):
    pass


def data_store_id(gl_version: str) -> str:
    """`17.3.1-ee` -> `gitlab-docs-17-3`; anything else has no data store."""
    match = _VERSION.match(gl_version.strip())
    if match is None:
        raise _NoDataStore(gl_version)
    return f"{APP}-{match.group(1)}-{match.group(2)}"


class VertexDocsSearch:
    provider = "vertex-ai"

    def __init__(self, settings: VertexSearchSettings, service_account_json: str = "") -> None:
        self.settings = settings
        self.http = httpx.AsyncClient(
            base_url=settings.endpoint.rstrip("/"), timeout=settings.timeout_s
        )
        self.token = GoogleToken(service_account_json)

    async def search(self, query: str, gl_version: str, page_size: int) -> list[SearchHit]:
        try:
            try:
                return await self._search(query, gl_version, page_size)
            except _NoDataStore:
                logger.warning("docs search: no data store for version %r", gl_version)
            fallback = self.settings.fallback_datastore_version
            try:
                return await self._search(query, fallback, page_size)
            except _NoDataStore:
                raise DataStoreNotFound() from None
        except (DataStoreNotFound, SearchUnavailable):
            raise
        except Exception as exc:  # credentials, transport: the log says which, never a secret
            logger.warning("Vertex AI Search failed: %s", type(exc).__name__)
            raise SearchUnavailable() from None

    async def _search(self, query: str, gl_version: str, page_size: int) -> list[SearchHit]:
        store = data_store_id(gl_version)
        path = (
            f"/v1/projects/{self.settings.project}/locations/{self.settings.location}"
            f"/collections/default_collection/dataStores/{store}"
            "/servingConfigs/default_config:search"
        )
        body = {
            "query": query,
            "pageSize": page_size,
            "queryExpansionSpec": {"condition": "AUTO"},
            "spellCorrectionSpec": {"mode": "AUTO"},
        }
        token = await self.token.get()
        response = await self.http.post(
            path, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        if response.status_code == 404:
            raise _NoDataStore(store)
        if response.status_code >= 400:
            logger.warning("Vertex AI Search answered HTTP %s", response.status_code)
            raise SearchUnavailable()
        return [_hit(result) for result in response.json().get("results", [])]


def _hit(result: dict[str, Any]) -> SearchHit:
    document = result.get("document", {})
    data = document.get("structData", {})
    return SearchHit(
        id=str(document.get("id", result.get("id", ""))),
        content=str(data.get("content", "")),
        metadata=dict(data.get("metadata", {})),
    )
