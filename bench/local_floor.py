"""The Serve floor for the embedded model: a one-deployment Serve app (same HAProxy, same Serve
settings as the gateway) whose only work is to stream `LocalBackend.stream` of the bench's model
call as text, from a bare ASGI function (no FastAPI, no middleware). `bench.local_model --floor`
runs it beside the gateway, so that first token and tokens/s split into what Serve + HAProxy +
HTTP cost (floor - direct) and what the gateway's own code adds (gateway - floor)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from ray import serve

ROUTE = "/floor"
RUNS = 500  # --fresh-prompt runs the floor has a model call for (numbered 0, 2, 4, ...)


class LocalFloor:
    def __init__(self) -> None:
        from bench.local_model import gateway_request
        from core.settings import LocalModelSettings
        from deployments.backends.local import LocalBackend

        self.backend = LocalBackend(LocalModelSettings())
        # Built here, not per request: the floor's requests cost only Serve and the stream.
        self.requests = {run: gateway_request(run) for run in [None, *range(0, 2 * RUNS, 2)]}

    def __serve_build_asgi_app__(self) -> Any:
        from serve_app.api.streaming import StreamingResponse

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":  # Serve runs the app's lifespan at start
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
                return
            body, more = b"", True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            model_request = self.requests[json.loads(body).get("run")]
            await self.backend.wait_loaded()

            async def text() -> AsyncIterator[str]:
                async for chunk in self.backend.stream(model_request):
                    if chunk.text:
                        yield chunk.text

            response = StreamingResponse(text(), media_type="text/event-stream")
            await response(scope, receive, send)

        return app


def deploy_floor() -> None:
    """Run the floor app in the Serve instance this process is connected to."""
    floor: Any = serve.deployment(serve.ingress()(LocalFloor), name="LocalFloor")
    serve.run(floor.bind(), name="floor", route_prefix=ROUTE)
