"""The floor: a minimal one-deployment Serve app returning a canned body, same Serve settings."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

CANNED = b'{"choices":[{"text":"canned","index":0,"finish_reason":"length"}]}'


class Floor:
    async def __call__(self, request: Request) -> Response:
        await request.body()
        return Response(CANNED, media_type="application/json")


def build_floor(args: dict[str, Any] | None = None) -> Any:
    """The floor app (an `import_path` builder: `args` are ignored)."""
    from ray import serve

    return serve.deployment(
        Floor, name="Floor", max_ongoing_requests=1000, ray_actor_options={"num_cpus": 0.1}
    ).bind()
