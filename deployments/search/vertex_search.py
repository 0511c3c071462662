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

import asyncio
import json
import logging
import re
from typing import Any

import google.auth
import httpx
from google.auth.credentials import Credentials
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import service_account

from core.provider_settings import VertexSearchSettings
from deployments.search.types import DataStoreNotFound, SearchHit, SearchUnavailable

logger = logging.getLogger("aigw.search")

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
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


def load_credentials(service_account_json: str) -> Credentials:
    if service_account_json:
        creds: Credentials = service_account.Credentials.from_service_account_info(
            json.loads(service_account_json), scopes=SCOPES
        )
        return creds
    creds, _ = google.auth.default(scopes=SCOPES)
    return creds


class VertexDocsSearch:
    provider = "vertex-ai"

    def __init__(self, settings: VertexSearchSettings, service_account_json: str = "") -> None:
        self.settings = settings
        self.http = httpx.AsyncClient(
            base_url=settings.endpoint.rstrip("/"), timeout=settings.timeout_s
        )
        self._service_account_json = service_account_json
        self._credentials: Credentials | None = None
        self._lock = asyncio.Lock()

    async def _token(self) -> str:
        async with self._lock:
            if self._credentials is None:
                self._credentials = await asyncio.to_thread(
                    load_credentials, self._service_account_json
                )
            creds = self._credentials
            if not creds.valid:
                await asyncio.to_thread(creds.refresh, AuthRequest())
            return str(creds.token)

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
        token = await self._token()
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
