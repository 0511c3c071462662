"""The contract's routers' routes added to the app itself, not included as routers.

FastAPI 0.165 keeps an included router as one entry of the app's routes: a request is matched
against it to pick the router, then matched again inside it to pick the route (~5 % of a /v2
request's instructions, issue 18). Added as the app's own, a route is matched once. The route
is rebuilt with its own parameters on the app's router, as `include_router` did before 0.165:
the app's settings fill in what the route leaves to its router (`strict_content_type`, the
response class, dependency overrides), as they do for an included route.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

# Route settings FastAPI 0.165 has and 0.136 (the vLLM image's) does not.
_SINCE_0_165 = ("strict_content_type", "max_body_size")


def add_routes(app: FastAPI, router: APIRouter) -> list[APIRoute]:
    """`router`'s routes, in order, as the app's own (what `app.include_router(router)` with
    no prefix, tags or dependencies serves), and the routes added. Only API routes: anything
    else is refused."""
    start = len(app.router.routes)
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"{route!r}: only API routes are added to the app as its own")
        app.router.add_api_route(
            route.path,
            route.endpoint,
            response_model=route.response_model,
            status_code=route.status_code,
            tags=list(route.tags),
            dependencies=list(route.dependencies),
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses=dict(route.responses),
            deprecated=route.deprecated,
            methods=route.methods,
            operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema,
            response_class=route.response_class,
            name=route.name,
            route_class_override=type(route),
            callbacks=route.callbacks,
            openapi_extra=route.openapi_extra,
            generate_unique_id_function=route.generate_unique_id_function,
            **{name: getattr(route, name) for name in _SINCE_0_165 if hasattr(route, name)},
        )
    return [r for r in app.router.routes[start:] if isinstance(r, APIRoute)]
