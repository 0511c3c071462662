"""Bearer tokens for Google's REST APIs (Vertex AI Search, Vertex text embeddings): the
service-account key of `AIGW_GOOGLE_CLOUD_PLATFORM__SERVICE_ACCOUNT_JSON_KEY` when set, else
application default credentials; loaded on first use and refreshed off the event loop."""

from __future__ import annotations

import asyncio
import json

import google.auth
from google.auth.credentials import Credentials
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import service_account

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def load_credentials(service_account_json: str) -> Credentials:
    if service_account_json:
        creds: Credentials = service_account.Credentials.from_service_account_info(
            json.loads(service_account_json), scopes=SCOPES
        )
        return creds
    creds, _ = google.auth.default(scopes=SCOPES)
    return creds


class GoogleToken:
    def __init__(self, service_account_json: str = "") -> None:
        self._service_account_json = service_account_json
        self._credentials: Credentials | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        async with self._lock:
            if self._credentials is None:
                self._credentials = await asyncio.to_thread(
                    load_credentials, self._service_account_json
                )
            creds = self._credentials
            if not creds.valid:
                await asyncio.to_thread(creds.refresh, AuthRequest())
            return str(creds.token)
