"""Response of `/v1/code/user_access_token` (API.md §1.5); the request has no body."""

from __future__ import annotations

from pydantic import BaseModel


class UserAccessTokenResponse(BaseModel):
    token: str
    expires_at: int  # Unix seconds
