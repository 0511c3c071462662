"""The proxies' own answer (API.md §1.9): everything else is the provider's body, passed
through untouched."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class MockedProxyResponse(BaseModel):
    """What every proxy route answers in mock mode, once the request passed its checks."""

    response: Literal["mocked"] = "mocked"
