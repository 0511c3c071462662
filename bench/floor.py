"""The floors: minimal one-deployment Serve apps returning a canned body, same Serve settings.

`build_floor` is the issue's floor (a plain callable). `build_fastapi_floor` is the same behind
a FastAPI ingress whose one route validates our `/v2/code/completions` request model: what
Serve, FastAPI and pydantic cost before any gateway work, so the bench shows how much of the
gap to the floor is the framework and how much is ours.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body
from starlette.requests import Request
from starlette.responses import Response

# At module level: FastAPI resolves the route's (string) annotations in this module's globals.
from serve_app.api.code_v2.protocol import CompletionsRequest

CANNED = b'{"choices":[{"text":"canned","index":0,"finish_reason":"length"}]}'
MAX_ONGOING = 1000
ACTOR_OPTIONS = {"num_cpus": 0.1}


class Floor:
    async def __call__(self, request: Request) -> Response:
        await request.body()
        return Response(CANNED, media_type="application/json")


def build_floor(args: dict[str, Any] | None = None) -> Any:
    """The floor app (an `import_path` builder: `args` are ignored)."""
    from ray import serve

    return serve.deployment(
        Floor, name="Floor", max_ongoing_requests=MAX_ONGOING, ray_actor_options=ACTOR_OPTIONS
    ).bind()


def build_fastapi_floor(args: dict[str, Any] | None = None) -> Any:
    """The FastAPI floor (an `import_path` builder: `args` are ignored)."""
    from fastapi import FastAPI
    from ray import serve

    app = FastAPI()

    @app.post("/v2/code/completions")
    async def completions(payload: Annotated[CompletionsRequest, Body()]) -> Response:
        return Response(CANNED, media_type="application/json")

    @serve.ingress(app)
    class FastAPIFloor:
        pass

    return serve.deployment(
        FastAPIFloor,
        name="FastAPIFloor",
        max_ongoing_requests=MAX_ONGOING,
        ray_actor_options=ACTOR_OPTIONS,
    ).bind()
